/**
 * The BGP pieces of `rtnl/agent`: the bgp backend (routed pods through BIRD
 * 2) with its configuration writer, speaker supervisor and route report,
 * and BGP EVPN through FRR for the plugin's vxlan mode.
 * @module
 */
export { BgpBackend, type BgpBackendOptions } from './backend.js';
export { BGP_DEFAULTS, type BgpMember, type BgpSettings, type BirdConfigInput, birdConfig } from './config.js';
export { BirdControlError, type BirdReply, birdCommand } from './control.js';
export { type EvpnConfigInput, FrrSpeaker, type FrrSpeakerOptions, frrEvpnConfig } from './evpn.js';
export { reportRoutes } from './routes.js';
export { BirdSpeaker, type SpeakerOptions } from './speaker.js';
