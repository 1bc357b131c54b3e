import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { frontProxyTrustFromData } from './front-proxy.ts';

describe('front proxy trust from extension-apiserver-authentication', () => {
  it('reads the CA, allowed names and username headers', () => {
    const trust = frontProxyTrustFromData({
      'requestheader-client-ca-file': 'PEM',
      'requestheader-allowed-names': '["front-proxy-client"]',
      'requestheader-username-headers': '["X-Remote-User"]',
    });
    assert.deepEqual(trust, {
      clientCA: 'PEM',
      allowedNames: ['front-proxy-client'],
      usernameHeaders: ['X-Remote-User'],
    });
  });

  it('an API server without aggregation flags is an error that says which flags to set', () => {
    assert.throws(
      () => frontProxyTrustFromData({ 'client-ca-file': 'PEM' }),
      /--requestheader-client-ca-file and --proxy-client-cert-file/,
    );
    assert.throws(() => frontProxyTrustFromData(undefined), /lacks requestheader-client-ca-file/);
  });

  it('a CA file given to the operator replaces the ConfigMap CA; empty allowed names mean any signed cert', () => {
    const trust = frontProxyTrustFromData({ 'requestheader-allowed-names': '[]' }, 'FILE-PEM');
    assert.equal(trust.clientCA, 'FILE-PEM');
    assert.deepEqual(trust.allowedNames, []);
    assert.deepEqual(trust.usernameHeaders, ['X-Remote-User']);
  });

  it('a malformed list is named', () => {
    assert.throws(
      () =>
        frontProxyTrustFromData({
          'requestheader-client-ca-file': 'PEM',
          'requestheader-allowed-names': 'front-proxy-client',
        }),
      /requestheader-allowed-names: not a JSON list of strings/,
    );
  });
});
