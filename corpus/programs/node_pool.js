// libuv's thread pool (crypto.pbkdf2 in parallel) and worker_threads,
// printing the derived keys' digest on stdout and the parallelism Node
// reports as a corpus-pool line on stderr.
'use strict';
const crypto = require('crypto');
const os = require('os');
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');

function work(seed, n) {
  let h = crypto.createHash('sha256');
  let x = Buffer.from(String(seed));
  for (let i = 0; i < n; i++) {
    x = crypto.createHash('sha256').update(x).update(String(i)).digest();
    h.update(x);
  }
  return h.digest('hex');
}

if (!isMainThread) {
  parentPort.postMessage(work(workerData.seed, workerData.n));
} else {
  const par = typeof os.availableParallelism === 'function'
    ? os.availableParallelism() : os.cpus().length;
  process.stderr.write(`corpus-pool node ${par}\n`);
  const jobs = [];
  for (let i = 0; i < 16; i++) {
    jobs.push(new Promise((resolve, reject) =>
      crypto.pbkdf2(`password-${i}`, `salt-${i}`, 60000, 32, 'sha256',
        (err, key) => (err ? reject(err) : resolve(key.toString('hex'))))));
  }
  for (let i = 0; i < 6; i++) {
    jobs.push(new Promise((resolve, reject) => {
      const w = new Worker(__filename, { workerData: { seed: i, n: 150000 } });
      w.on('message', resolve);
      w.on('error', reject);
    }));
  }
  Promise.all(jobs).then((results) => {
    const h = crypto.createHash('sha256');
    results.forEach((r, i) => { h.update(r); if (i % 4 === 0) console.log(i, r.slice(0, 16)); });
    console.log(h.digest('hex'));
  });
}
