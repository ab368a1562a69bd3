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
