// Swagger UI for GET /docs, served by the app itself (no CDN): the page, and its JS/CSS read from the
// pinned swagger-ui-dist package at request time. Never import the assets: they would triple the bundle.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Folder beside the Lambda bundle that the CDK build copies the assets into (commandHooks.afterBundling). */
export const DOCS_ASSETS_BUNDLE_DIR = 'swagger-ui';

/** The files GET /docs/{asset} serves, with their content types. Nothing else is readable. */
export const DOCS_ASSETS: Readonly<Record<string, string>> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
};

/** Beside the bundle in Lambda; the installed package when run from source (npm start, tests). */
const ASSET_DIRS = [
  fileURLToPath(new URL(`./${DOCS_ASSETS_BUNDLE_DIR}/`, import.meta.url)),
  fileURLToPath(new URL('../../node_modules/swagger-ui-dist/', import.meta.url)),
];

const cache = new Map<string, string>();

/** One asset's text and content type; null for a name not in DOCS_ASSETS or files not deployed. */
export function readDocsAsset(name: string): { body: string; contentType: string } | null {
  const contentType = DOCS_ASSETS[name];
  if (!contentType || !Object.hasOwn(DOCS_ASSETS, name)) return null;
  let body = cache.get(name);
  if (body === undefined) {
    for (const dir of ASSET_DIRS) {
      try {
        body = readFileSync(`${dir}${name}`, 'utf8');
        break;
      } catch {
        // not in this folder: try the next
      }
    }
    if (body === undefined) return null;
    cache.set(name, body);
  }
  return { body, contentType };
}

/**
 * The Swagger UI page (validatorUrl: null, or it would load a badge from the internet). Every URL is relative to /docs (so an API Gateway stage prefix such as /v1
 * is kept): the assets under docs/, the description at openapi.json; /docs/ is sent to /docs.
 */
export const SWAGGER_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>EventFlow API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<script>if (location.pathname.endsWith('/')) location.replace(location.pathname.slice(0, -1) + location.search);</script>
<link rel="stylesheet" href="docs/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({ url: 'openapi.json', dom_id: '#ui', validatorUrl: null });</script>
<noscript>The machine-readable description is at <a href="openapi.json">openapi.json</a>.</noscript>
</body></html>`;
