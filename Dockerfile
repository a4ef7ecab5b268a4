# One image for pinpool-controller, pinpool-agent and the CNI plugin binary the agent's
# init container installs on each node. Build: docker build -t ghcr.io/pinpool/pinpool:0.1.0 .

# The CNI plugin: Go standard library only, static (it runs on the host, any distribution).
FROM golang:1.26-bookworm AS plugin
WORKDIR /src
COPY src/cni/ ./
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/pinpool .

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
COPY scripts ./scripts
COPY test ./test
RUN npx tsc -p tsconfig.json && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=plugin /out/pinpool /opt/pinpool/bin/pinpool
# The controller runs as this user; the agent's DaemonSet runs it as root for its 0600 socket.
USER 65532:65532
CMD ["node", "dist/src/controller/main.js"]
