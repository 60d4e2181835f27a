/** Request URLs name a path (which may contain "/") and a track control. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  announcedTrack,
  requestTarget,
  viewerTrack,
} from '../../../rtp-proxy/media/rtsp/request-target.js';
import { chooseTransport } from '../../../rtp-proxy/media/rtsp/transport-setup.js';
import { parseTransport } from '../../../src/protocol/rtsp/index.js';

const paths = new Set(['cam1', 'cams/door']);
const isPath = (name: string): boolean => paths.has(name);

describe('requestTarget', () => {
  it('finds the longest configured path and the control after it', () => {
    assert.deepEqual(requestTarget('rtsp://h:8554/cams/door/trackID=1?token=x', isPath), {
      pathName: 'cams/door',
      control: 'trackID=1',
      base: 'rtsp://h:8554/cams/door/',
    });
    assert.deepEqual(requestTarget('rtsp://u:p@h:8554/cam1', isPath), {
      pathName: 'cam1',
      control: '',
      base: 'rtsp://h:8554/cam1/',
    });
  });

  it('refuses unknown paths, other schemes and broken escapes', () => {
    for (const url of ['rtsp://h/cam2', 'http://h/cam1', 'rtsp://h/%E0%A4%A', 'garbage', '*']) {
      assert.equal(requestTarget(url, isPath), undefined, url);
    }
  });

  it('maps controls to tracks', () => {
    assert.equal(viewerTrack('trackID=1', 2), 1);
    assert.equal(viewerTrack('trackID=2', 2), undefined);
    assert.equal(viewerTrack('', 1), 0);
    assert.equal(viewerTrack('', 2), undefined);
    assert.equal(viewerTrack('streamid=0', 2), undefined);
    assert.equal(announcedTrack('streamid=1', ['streamid=0', 'streamid=1']), 1);
    assert.equal(
      announcedTrack('streamid=1', ['rtsp://h/x/streamid=0', 'rtsp://h/x/streamid=1']),
      1,
    );
    assert.equal(announcedTrack('nope', ['streamid=0']), undefined);
  });
});

describe('chooseTransport', () => {
  const choose = (header: string) => chooseTransport(parseTransport(header) ?? []);
  it('takes the first spec the proxy serves', () => {
    assert.deepEqual(choose('RTP/AVP;multicast,RTP/AVP;unicast;client_port=5000-5001'), {
      kind: 'udp',
      clientPorts: [5000, 5001],
      spec: parseTransport('RTP/AVP;unicast;client_port=5000-5001')?.[0],
    });
    assert.equal(choose('RTP/AVP/TCP;unicast;interleaved=4-5')?.kind, 'tcp');
    assert.equal(choose('RTP/AVP/TCP;unicast')?.kind, 'tcp');
  });
  it('refuses what it cannot serve', () => {
    for (const header of [
      'RTP/SAVP;unicast;client_port=1-2',
      'RTP/AVP;unicast',
      'RTP/AVP;multicast',
      'RTP/AVP/TCP;interleaved=300-301',
    ]) {
      assert.equal(choose(header), undefined, header);
    }
  });
});
