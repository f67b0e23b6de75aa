// A real S3-compatible server for stipple's tests: s3rver (tests/package.json) on loopback, with
// the buckets named on the command line, its files in --dir. Path-style requests go to
// http://127.0.0.1:PORT/BUCKET/KEY, virtual-host ones to http://BUCKET.s3.localhost:PORT/KEY.
//
//   node --openssl-legacy-provider s3rver.js --dir DIR [--port N] [--bucket NAME ...]
//
// (s3rver encrypts listing continuation tokens with DES, which OpenSSL 3 has only in its legacy
// provider; without the flag a listing's second page is a 500.)
//
// Prints "listening PORT" once ready (port 0: any free port). Credentials: access key id S3RVER,
// secret S3RVER (s3rver's account). s3rver checks the access key id but not SigV4 signatures, so
// every signed request is first checked here with the `aws4` package — a SigV4 implementation
// independent of stipple's — and a wrong signature gets S3's 403 SignatureDoesNotMatch.
'use strict';
const S3rver = require('s3rver');
const aws4 = require('aws4');

const args = process.argv.slice(2);
let dir = '';
let port = 0;
const buckets = [];
for (let i = 0; i < args.length; i += 2) {
  if (args[i] === '--dir') dir = args[i + 1];
  else if (args[i] === '--port') port = Number(args[i + 1]);
  else if (args[i] === '--bucket') buckets.push(args[i + 1]);
  else throw new Error('unknown argument ' + args[i]);
}
if (!dir) throw new Error('--dir is required');

const ACCESS_KEY = 'S3RVER';
const SECRET = 'S3RVER';
const AUTH =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/;

function refuse(ctx, code, message) {
  ctx.status = 403;
  ctx.type = 'application/xml';
  ctx.body =
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>' + code + '</Code><Message>' +
    message + '</Message></Error>';
}

const server = new S3rver({
  address: '127.0.0.1',
  port,
  directory: dir,
  silent: true,
  // Virtual-host requests: BUCKET.s3.localhost (curl resolves *.localhost to loopback).
  serviceEndpoint: 'localhost',
  vhostBuckets: false,
  configureBuckets: buckets.map((name) => ({ name, configs: [] })),
});

// Before s3rver's own middleware: recompute the signature of every SigV4 request.
server.middleware.unshift(async (ctx, next) => {
  const match = AUTH.exec(ctx.get('authorization'));
  if (!match || match[1] !== ACCESS_KEY) return next();  // s3rver answers (InvalidAccessKeyId)
  const [, accessKeyId, , region, signedHeaders, signature] = match;
  const headers = {};
  for (const name of signedHeaders.split(';')) headers[name] = ctx.get(name);
  const request = {
    host: ctx.get('host'),
    method: ctx.method,
    path: ctx.originalUrl,
    headers,
    service: 's3',
    region,
  };
  aws4.sign(request, { accessKeyId, secretAccessKey: SECRET });
  const expected = /Signature=([0-9a-f]{64})$/.exec(request.headers.Authorization)[1];
  if (expected !== signature) {
    return refuse(ctx, 'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. ' +
      'Check your key and signing method.');
  }
  return next();
});

server.run().then((address) => {
  process.stdout.write('listening ' + address.port + '\n');
}, (err) => {
  process.stderr.write(String(err && err.stack || err) + '\n');
  process.exit(1);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close().then(() => process.exit(0), () => process.exit(0)));
}
