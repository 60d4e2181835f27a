export { h264StartsKeyframe, h265StartsKeyframe } from './keyframe.js';
