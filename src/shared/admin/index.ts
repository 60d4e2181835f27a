export {
  AdminServer,
  type AdminHandler,
  type AdminRequest,
  type AdminResponse,
  type Readiness,
} from './server.js';
