import { html, useEffect, useRef, useState } from './vendor/htm-3.1.1/preact/standalone.module.js';

// Chart.js (vendor/chartjs-4.4.7, its standalone UMD build) is loaded the first time a chart is drawn, as a
// script file of this origin (the CSP allows nothing else), so that agents who never see a chart never load it.

const SRC = '/console/static/vendor/chartjs-4.4.7/chart.umd.js';
let loading = null;

export function loadChart() {
  if (window.Chart) return Promise.resolve(window.Chart);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = SRC;
      script.onload = () => resolve(window.Chart);
      script.onerror = () => {
        loading = null; // a later chart tries again
        script.remove();
        reject(new Error('图表库载入失败'));
      };
      document.head.append(script);
    });
  }
  return loading;
}

// One chart on a canvas: drawn once Chart.js is loaded, updated in place when its data changes, destroyed
// with the component; a library that cannot load is said in words. `box` is the wrapper's class.
export function ChartBox({ config, label, name, box }) {
  const canvas = useRef(null);
  const chart = useRef(null);
  const [problem, setProblem] = useState('');
  const data = JSON.stringify(config.data);
  useEffect(() => {
    let gone = false;
    loadChart().then((Chart) => {
      if (gone || !canvas.current) return;
      if (chart.current) {
        chart.current.data = config.data;
        chart.current.update();
      } else {
        chart.current = new Chart(canvas.current, config);
      }
    }, (error) => setProblem(error.message));
    return () => { gone = true; };
  }, [data]);
  useEffect(() => () => { if (chart.current) chart.current.destroy(); }, []);
  return html`<div class=${box} data-chart=${name}>
    ${problem ? html`<p class="muted">${problem}</p>` : html`<canvas ref=${canvas} role="img" aria-label=${label}></canvas>`}
  </div>`;
}
