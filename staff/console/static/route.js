// Pages keep their place in the hash (#orders, #orders/202612040001): reload or share the address and
// the same page opens. A page reads its part of the hash with useHashRoute and moves with go.
import { useEffect, useState } from './vendor/htm-3.1.1/preact/standalone.module.js';

// The hash's parts after `#<key>`: '#orders/42/refund' → ['42', 'refund']; null when on another page.
export function hashParts(key, hash = location.hash) {
  if (hash !== '#' + key && !hash.startsWith('#' + key + '/')) return null;
  return hash.slice(key.length + 2).split('/').filter(Boolean).map(decodeURIComponent);
}

export function useHashRoute(key) {
  const [parts, setParts] = useState(() => hashParts(key) || []);
  useEffect(() => {
    const onHash = () => {
      const now = hashParts(key);
      if (now) setParts(now);
    };
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, [key]);
  return parts;
}

export function go(key, ...parts) {
  location.hash = '#' + [key, ...parts.map((part) => encodeURIComponent(String(part)))].join('/');
}
