package optout

import "testing"

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		want Action
	}{
		{"STOP stops", "STOP", Stop},
		{"case does not matter", "stop", Stop},
		{"spaces around do not matter", "  Parar \n", Stop},
		{"Portuguese SAIR stops", "sair", Stop},
		{"CANCELAR stops", "Cancelar", Stop},
		{"START restarts", "start", Start},
		{"ENTRAR restarts", " ENTRAR ", Start},
		{"a keyword inside a sentence is an ordinary reply", "please stop", None},
		{"an ordinary reply", "Obrigado!", None},
		{"an empty reply", "", None},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := DefaultKeywords.Classify(tc.text); got != tc.want {
				t.Fatalf("Classify(%q) = %v, want %v", tc.text, got, tc.want)
			}
		})
	}
}
