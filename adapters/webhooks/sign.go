// Package webhooks delivers webhooks: it signs them to the Standard
// Webhooks spec, sends them through a dialer that refuses internal
// addresses, and runs the sender, a Watermill router over the Postgres
// delivery queue (Queue) that the campaign projector's outbox
// (projections/webhooks) and endpoint management (commands/webhooks) fill.
// Store keeps the endpoints for commands/webhooks.
package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"ziett.co/campaigns/domain/webhook"
)

// Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

var errSecret = errors.New("webhooks: malformed signing secret")

// Sign returns the v1 signature of a message: "v1," and the base64 of the
// HMAC-SHA256, keyed with the secret's bytes, of "id.timestamp.body".
func Sign(secret, id string, timestamp int64, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, webhook.SecretPrefix))
	if err != nil || len(key) == 0 {
		return "", errSecret
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(timestamp, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

// SignatureHeader signs with every secret (the current one and, during a
// rotation, the previous one) and joins the signatures with spaces, as the
// spec allows: a receiver accepts the message if any of them verifies.
func SignatureHeader(secrets []string, id string, timestamp int64, body []byte) (string, error) {
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		sig, err := Sign(s, id, timestamp, body)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, sig)
	}
	return strings.Join(sigs, " "), nil
}
