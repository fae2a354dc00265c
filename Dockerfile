# Arbor member image. Build: docker build -t arbor:local .
# Run one member:   docker run arbor:local server --id 1 --initial-cluster 1=HOST:4191 ...
# Run the CLI:      docker run --rm --network host arbor:local status
# A three-member cluster: docker compose up (see docker-compose.yml and docs/operations.md).

# 1. Compile TypeScript with the full (dev) dependency set.
FROM node:20-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY proto ./proto
RUN npm run build

# 2. Production dependencies only, installed in a clean stage (classic-level's native addon
#    comes as a prebuilt binary for linux x64/arm64 glibc, so no compiler is needed).
FROM node:20-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

# 3. The runtime: compiled code, production node_modules, the proto contract; no compiler, no tests.
FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY proto ./proto
COPY bin ./bin
# /data becomes a named volume; it inherits this ownership, so the non-root user can write it.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
# Inside a container, listen on every interface; the data lives in the volume.
ENV ARBOR_CLIENT_ADDR=0.0.0.0:4181
ENV ARBOR_HTTP_ADDR=0.0.0.0:4201
ENV ARBOR_DATA_DIR=/data
# 4181 public gRPC API, 4191 peer traffic, 4201 HTTP (/healthz, /readyz, /metrics).
EXPOSE 4181 4191 4201
ENTRYPOINT ["node", "bin/arbor.js"]
CMD ["server"]
