// A webhook receiver for stipple's tests: verifies every delivery with the `standardwebhooks`
// package (an implementation independent of stipple's) and records it.
//
//   node receiver.js --port N --secret whsec_... [--secret ...] [--answers 500,hang,410,200]
//
// Prints "listening PORT" once ready. --answers: what to answer the 1st, 2nd, ... delivery (an
// HTTP status, or "hang" to never answer); later deliveries get 200. GET /deliveries returns what
// arrived, in order: [{id, timestamp, type, task_id, answered, verified_with: [secret indexes]}].
'use strict';
const http = require('http');
const { Webhook } = require('standardwebhooks');

const args = process.argv.slice(2);
let port = 0;
const secrets = [];
let answers = [];
for (let i = 0; i < args.length; i += 2) {
  if (args[i] === '--port') port = Number(args[i + 1]);
  else if (args[i] === '--secret') secrets.push(args[i + 1]);
  else if (args[i] === '--answers') answers = args[i + 1].split(',').filter((a) => a !== '');
  else throw new Error('unknown argument ' + args[i]);
}
if (secrets.length === 0) throw new Error('--secret is required');
const verifiers = secrets.map((s) => new Webhook(s));
const deliveries = [];

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/deliveries') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(deliveries));
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    const verified_with = [];
    let type = null;
    let task_id = null;
    verifiers.forEach((v, i) => {
      try {
        const payload = v.verify(body, req.headers);
        verified_with.push(i);
        type = payload.type;
        task_id = payload.data && payload.data.id;
      } catch (e) {
        // not signed with this secret (or the signature is wrong)
      }
    });
    const answer = deliveries.length < answers.length ? answers[deliveries.length] : '200';
    deliveries.push({
      id: req.headers['webhook-id'] || null,
      timestamp: req.headers['webhook-timestamp'] || null,
      type,
      task_id,
      answered: answer,
      verified_with,
    });
    if (answer === 'hang') return;  // never answer: the sender's timeout must fire
    res.writeHead(Number(answer), { 'Content-Type': 'text/plain' });
    res.end('ok');
  });
});
server.keepAliveTimeout = 60000;
server.listen(port, '127.0.0.1', () => {
  process.stdout.write('listening ' + server.address().port + '\n');
});
