// Package apikey defines the shape of API keys and how they are stored.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// Prefix marks a live key, so leaked keys are recognisable by scanners.
const Prefix = "zk_live_"

// Scopes a key can hold.
const (
	ScopeCampaignSend   = "apikey:campaign:send"
	ScopeCampaignRead   = "apikey:campaign:read"
	ScopeWebhooksManage = "apikey:webhooks:manage"
	// ScopeMessageSend allows Send Message (POST /c/v1/messages) and
	// reading single messages.
	ScopeMessageSend = "apikey:message:send"
)

// secretLen is 32 random bytes (256 bits), base64url without padding: 43
// characters.
const secretLen = 43

// New returns a fresh key. Only its Hash is ever stored.
func New() string {
	b := make([]byte, 32)
	rand.Read(b) //nolint:errcheck // crypto/rand.Read never fails on Linux
	return Prefix + base64.RawURLEncoding.EncodeToString(b)
}

// WellFormed reports whether s could be a key we issued, so garbage is
// refused without a database round trip.
func WellFormed(s string) bool {
	if !strings.HasPrefix(s, Prefix) || len(s) != len(Prefix)+secretLen {
		return false
	}
	for _, c := range s[len(Prefix):] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Hash is what the database keeps. Keys have 256 bits of entropy, so a
// fast hash is enough: there is nothing to brute-force.
func Hash(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// Display is the non-secret part shown in listings.
func Display(key string) string {
	if len(key) < len(Prefix)+6 {
		return key
	}
	return key[:len(Prefix)+6] + "…"
}
