// Writes dist/index.mjs: an ES module that re-exports the CommonJS build, so that
// `import { tensor } from 'nodeformers'` works beside `require('nodeformers')`.
const fs = require('node:fs');
const path = require('node:path');
const dist = path.join(__dirname, '..', 'dist');
const api = require(path.join(dist, 'index.js'));
const names = Object.keys(api).filter((n) => n !== 'default' && n !== '__esModule');
const body = [
  "import api from './index.js';",
  `export const { ${names.join(', ')} } = api;`,
  'export default api;',
  '',
].join('\n');
fs.writeFileSync(path.join(dist, 'index.mjs'), body);
