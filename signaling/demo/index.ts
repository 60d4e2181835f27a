export {
  demoRoute,
  DEMO_ASSET_PREFIX,
  DEFAULT_DEMO_DIRECTORY,
  type DemoRouteOptions,
} from './route.js';
export {
  DEMO_STATE_GLOBAL,
  type DemoEvent,
  type DemoState,
  type StreamStats,
  type WhepState,
} from './demo-state.js';
