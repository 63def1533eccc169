export { DaemonMetrics, type SinkSample } from './registry.js';
