/**
 * `npm run schema`: writes proxy.config.schema.json from the config loader's own schema
 * (src/config/json-schema.ts), with descriptions from proxy.config.yaml's comments.
 * test/unit/config/json-schema.test.ts fails when the committed file is not this output.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { configDocs, configJsonSchema, SCHEMA_FILE } from '../src/config/json-schema.ts';

const root = new URL('../', import.meta.url);
const docs = configDocs(readFileSync(new URL('proxy.config.yaml', root), 'utf8'));
writeFileSync(new URL(SCHEMA_FILE, root), `${JSON.stringify(configJsonSchema(docs), null, 2)}\n`);
process.stdout.write(`wrote ${SCHEMA_FILE}\n`);
