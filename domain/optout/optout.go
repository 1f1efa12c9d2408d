// Package optout decides what a recipient's reply means for their consent:
// a stop keyword suppresses the number for the organisation that sent to
// it, a start keyword lifts that.
package optout

import "strings"

// Action is what an inbound message asks for.
type Action int

const (
	// None: an ordinary reply.
	None Action = iota
	// Stop: suppress the sender's number.
	Stop
	// Start: lift the suppression.
	Start
)

// Keywords are the words that stop or restart messages. A reply matches
// when, trimmed of spaces and compared without case, it is one of them.
type Keywords struct {
	Stop  []string
	Start []string
}

// DefaultKeywords are English and Portuguese, as recipients in Angola and
// Portugal write them.
var DefaultKeywords = Keywords{
	Stop:  []string{"STOP", "PARAR", "SAIR", "CANCELAR"},
	Start: []string{"START", "ENTRAR"},
}

// Classify says what an inbound text asks for.
func (k Keywords) Classify(text string) Action {
	t := strings.TrimSpace(text)
	for _, w := range k.Stop {
		if strings.EqualFold(t, w) {
			return Stop
		}
	}
	for _, w := range k.Start {
		if strings.EqualFold(t, w) {
			return Start
		}
	}
	return None
}

// ReasonSuppressed is the reason code of a recipient whose number is on the
// organisation's suppression list: it gets no message and is not billed.
const ReasonSuppressed = "SUPPRESSED"
