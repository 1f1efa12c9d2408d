package phone

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// angolanInputs mirrors a typical Angolan campaign: distinct mobile numbers,
// mostly in E.164, some national, a few spaced out.
func angolanInputs(n int) []string {
	r := rand.New(rand.NewPCG(1, 1))
	seen := map[string]bool{}
	out := make([]string, 0, n)
	for len(out) < n {
		// Angolan mobile ranges: 9 followed by 1-5, 7 or 9.
		sub := fmt.Sprintf("9%c%07d", "1234579"[r.IntN(7)], r.IntN(10_000_000))
		if seen[sub] {
			continue
		}
		seen[sub] = true
		switch p := r.IntN(10); {
		case p < 7:
			out = append(out, "+244"+sub)
		case p < 9:
			out = append(out, sub)
		default:
			out = append(out, "+244 "+sub[:3]+" "+sub[3:6]+" "+sub[6:])
		}
	}
	return out
}

type regionInput struct{ raw, region string }

// mixedInputs covers other common destinations and the formats customers
// use for them.
func mixedInputs(n int) []regionInput {
	r := rand.New(rand.NewPCG(2, 2))
	d := func(k int) string {
		b := make([]byte, k)
		for i := range b {
			b[i] = byte('0' + r.IntN(10))
		}
		return string(b)
	}
	makers := []func() regionInput{
		func() regionInput { return regionInput{"+351 91" + d(1) + " " + d(3) + " " + d(3), "AO"} },
		func() regionInput { return regionInput{"91" + d(7), "PT"} },
		func() regionInput { return regionInput{"00351 93" + d(7), "AO"} },
		func() regionInput { return regionInput{"+1 (415) 555-" + d(4), "AO"} },
		func() regionInput { return regionInput{"(212) 55" + d(1) + "-" + d(4), "US"} },
		func() regionInput { return regionInput{"+44 7412 " + d(6), "AO"} },
		func() regionInput { return regionInput{"07412 " + d(6), "GB"} },
		func() regionInput { return regionInput{"+55 11 9" + d(4) + "-" + d(4), "BR"} },
		func() regionInput { return regionInput{"(21) 9" + d(4) + "-" + d(4), "BR"} },
		func() regionInput { return regionInput{"0803 " + d(3) + " " + d(4), "NG"} },
		func() regionInput { return regionInput{"+234 803 " + d(7), "AO"} },
		func() regionInput { return regionInput{"082 " + d(3) + " " + d(4), "ZA"} },
		func() regionInput { return regionInput{"06 1" + d(1) + " " + d(2) + " " + d(2) + " " + d(2), "FR"} },
		func() regionInput { return regionInput{"+49 151 " + d(8), "AO"} },
		func() regionInput { return regionInput{"0151 " + d(8), "DE"} },
		func() regionInput { return regionInput{"98" + d(8), "IN"} },
	}
	out := make([]regionInput, n)
	for i := range out {
		out[i] = makers[i%len(makers)]()
	}
	return out
}

func BenchmarkNormalize(b *testing.B) {
	impls := []struct {
		name string
		fn   func(raw, region string) (Number, string)
	}{
		{"fast", Normalize},
		{"full", normalizeFull},
	}
	ao := angolanInputs(8192)
	mixed := mixedInputs(8192)
	Normalize("+244923456789", "AO") // build lookup tables outside the timing
	for _, impl := range impls {
		b.Run("AO/"+impl.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				impl.fn(ao[i%len(ao)], "AO")
				i++
			}
		})
	}
	for _, impl := range impls {
		b.Run("mixed/"+impl.name, func(b *testing.B) {
			for _, in := range mixed[:32] {
				impl.fn(in.raw, in.region) // compile each region's patterns outside the timing
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				in := mixed[i%len(mixed)]
				impl.fn(in.raw, in.region)
				i++
			}
		})
	}
}

// TestBenchmarkInputsAreValid keeps the benchmark honest: it must measure
// numbers that make it through validation, not early rejections.
func TestBenchmarkInputsAreValid(t *testing.T) {
	for _, raw := range angolanInputs(500) {
		if n, reason := Normalize(raw, "AO"); reason != "" || n.Country != "AO" {
			t.Fatalf("Normalize(%q, AO) = %+v %q", raw, n, reason)
		}
	}
	invalid := 0
	for _, in := range mixedInputs(800) {
		if _, reason := Normalize(in.raw, in.region); reason != "" {
			invalid++
		}
	}
	if invalid > 80 {
		t.Fatalf("%d of 800 mixed benchmark inputs are rejected", invalid)
	}
}
