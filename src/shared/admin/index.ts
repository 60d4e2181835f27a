export {
  adminConnectionBudget,
  AdminBindRefusedError,
  AdminServer,
  isLoopbackHost,
  type AdminHandler,
  type AdminRequest,
  type AdminResponse,
  type AdminServerOptions,
  type Readiness,
  type RouteAccess,
  type RouteOptions,
  type SegmentHandler,
  type SegmentRouteOptions,
} from './server.js';
export {
  ADMIN_TOKEN_VARIABLE,
  AdminCredentials,
  AdminTokenError,
  defaultAdminTokenFile,
  type AdminTokenSource,
} from './credentials.js';
