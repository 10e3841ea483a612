# claude-meter image: the built bundle on production dependencies, run as the unprivileged
# `node` user. `docker compose up` builds it (docker-compose.yml); test/stack/docker.test.ts
# checks the invariants below, since CI has no Docker engine.

# Build stage: all dependencies, then `npm run build` (esbuild) into dist/.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are copied.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build

# Runtime stage: production dependencies only, nothing installed at container start.
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
# dist/ holds the bundle and the pricing table beside it; without src/ bin/ runs the bundle.
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY proxy.config.yaml ./
USER node
ENV HOST=0.0.0.0 PORT=8080
EXPOSE 8080
# node:24-slim has no curl: node's own fetch. /_meter/health answers 503 while Redis is unreachable.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/_meter/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "bin/claude-meter.js", "start", "--config", "/app/proxy.config.yaml"]
