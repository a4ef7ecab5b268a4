# One image for pinpool-controller, pinpool-agent and the CNI plugin binary the agent's
# init container installs on each node. Build: docker build -t ghcr.io/pinpool/pinpool:0.1.0 .
#
# scripts/images/build.ts (`npm run images`) makes the same image without Docker or a
# registry, as an OCI archive for `ctr images import` (the local cluster's real node). The two
# must stay alike: the final stage's paths, user, working dir, environment and command are
# the archive's (/app/package.json, /app/node_modules with production dependencies only,
# /app/dist/src, /opt/pinpool/bin/pinpool, node at /usr/local/bin/node, sh/cp/mv in /bin,
# user 65532 "nonroot"); change both together. Only the base differs: here a Debian userland,
# there just node's shared libraries and a static busybox.

# The CNI plugin: Go standard library only, static (it runs on the host, any distribution).
FROM golang:1.26-bookworm AS plugin
WORKDIR /src
COPY src/cni/ ./
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/pinpool .

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY scripts ./scripts
COPY test ./test
RUN npx tsc -p tsconfig.json

# Production dependencies, installed as scripts/images/build.ts installs them.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:20-bookworm-slim
# The archive's /etc/passwd and /etc/group name 65532 too.
RUN groupadd --gid 65532 nonroot \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /sbin/nologin nonroot
WORKDIR /app
ENV NODE_ENV=production PATH=/usr/local/bin:/usr/bin:/bin
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=plugin /out/pinpool /opt/pinpool/bin/pinpool
# The controller runs as this user; the agent's DaemonSet runs it as root for its 0600 socket.
USER 65532:65532
CMD ["node", "dist/src/controller/main.js"]
