# Production image: one static binary; each component runs it with
# `serve -components <name>`.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/ziett ./cmd/ziett

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ziett /usr/local/bin/ziett
ENTRYPOINT ["/usr/local/bin/ziett"]
