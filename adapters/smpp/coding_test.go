package smpp

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/sms"
)

func TestGSM7UsesTheDefaultAlphabetAndExtensionTable(t *testing.T) {
	rows := []struct {
		name string
		text string
		want string
	}{
		{"letters and digits are their ASCII values", "Az09", "41 7A 30 39"},
		{"@ is 0x00 and $ is 0x02", "@$", "00 02"},
		{"accented letters from the table", "£èéÇØÅΔ_ßÉ¤¡Ä§¿äà", "01 04 05 09 0B 0E 10 11 1E 1F 24 40 5B 5F 60 7B 7F"},
		{"extension characters take escape 0x1B", "{}[]~\\|^€\f", "1B28 1B29 1B3C 1B3E 1B3D 1B2F 1B40 1B14 1B65 1B0A"},
		{"newline and carriage return", "\n\r", "0A 0D"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			got, err := EncodeGSM7(r.text)
			if err != nil {
				t.Fatal(err)
			}
			if want := hexb(t, r.want); !bytes.Equal(got, want) {
				t.Fatalf("got % X want % X", got, want)
			}
			if back := DecodeGSM7(got); back != r.text {
				t.Fatalf("decoded back to %q", back)
			}
		})
	}
	if _, err := EncodeGSM7("ç"); err == nil {
		t.Fatal("ç is not in GSM 03.38 but was encoded")
	}
	if got := DecodeGSM7([]byte{0x1B, 0x41}); got != "A" {
		t.Fatalf("escape before an unknown code: %q", got)
	}
}

func TestUCS2IsUTF16BigEndianWithSurrogatePairs(t *testing.T) {
	got := EncodeUCS2("Жa😀")
	if want := hexb(t, "0416 0061 D83D DE00"); !bytes.Equal(got, want) {
		t.Fatalf("got % X", got)
	}
	if DecodeUCS2(got) != "Жa😀" {
		t.Fatal("round trip")
	}
}

// The number of parts sent must be what domain/sms bills, at every boundary
// its own tests name, and no part may cut an escape pair or a surrogate pair.
func TestSplitAgreesWithBilledSegments(t *testing.T) {
	rep := strings.Repeat
	texts := map[string]string{
		"empty": "", "gsm 160": rep("a", 160), "gsm 161": rep("a", 161), "gsm 306": rep("a", 306), "gsm 307": rep("a", 307),
		"ext ends at 160": rep("a", 158) + "€", "ext ends at 161": rep("a", 159) + "€",
		"ext fits 152-153": rep("a", 151) + "€" + rep("a", 153), "ext straddles 153": rep("a", 152) + "€" + rep("a", 152),
		"all ext": rep("]", 153), "ucs 70": rep("ж", 70), "ucs 71": rep("ж", 71), "ucs 134": rep("ж", 134), "ucs 135": rep("ж", 135),
		"36 emoji": rep("😀", 36), "emoji straddles 67": rep("ж", 66) + "😀" + rep("ж", 66),
		"160 gsm + 1 cyrillic": rep("a", 160) + "ж", "invalid utf8": "a\xffb", "mixed": "Olà {x} ж 😀 " + rep("€", 90),
	}
	for name, text := range texts {
		t.Run(name, func(t *testing.T) {
			sp, err := SplitText(text)
			if err != nil {
				t.Fatal(err)
			}
			info := sms.Analyze(text)
			if len(sp.Parts) != info.Segments || sp.Segments != info.Segments || sp.Encoding != string(info.Encoding) {
				t.Fatalf("%d parts, %s; domain/sms says %d segments, %s", len(sp.Parts), sp.Encoding, info.Segments, info.Encoding)
			}
			var joined []byte
			for i, p := range sp.Parts {
				limit := 153
				if sp.DataCoding == CodingUCS2 {
					limit = 134
				}
				if len(sp.Parts) > 1 && len(p) > limit {
					t.Fatalf("part %d has %d octets", i, len(p))
				}
				if sp.DataCoding == CodingDefault && len(p) > 0 && p[len(p)-1] == gsmEscape {
					t.Fatalf("part %d ends inside an escape pair", i)
				}
				if sp.DataCoding == CodingUCS2 && len(p) >= 2 && p[len(p)-2]&0xFC == 0xD8 {
					t.Fatalf("part %d ends inside a surrogate pair", i)
				}
				joined = append(joined, p...)
			}
			if !bytes.Equal(joined, sp.Whole) {
				t.Fatal("parts do not add up to the whole")
			}
			want := strings.ToValidUTF8(text, "\uFFFD")
			if got := DecodeText(sp.DataCoding, joined); got != want {
				t.Fatalf("parts decode to %q", got)
			}
		})
	}
}

func FuzzSplitText(f *testing.F) {
	f.Add("hello")
	f.Add(strings.Repeat("€", 100))
	f.Add(strings.Repeat("ж😀", 50))
	f.Fuzz(func(t *testing.T, text string) {
		sp, err := SplitText(text)
		if err != nil {
			t.Fatal(err)
		}
		if utf8.ValidString(text) && DecodeText(sp.DataCoding, sp.Whole) != text {
			t.Fatalf("%q does not survive its coding", text)
		}
	})
}

func TestBuildSubmitsAddressingAndConcatenation(t *testing.T) {
	ref := uuid.New()
	long := strings.Repeat("a", 200)
	rows := []struct {
		name           string
		sub            Submission
		mode           LongMode
		srcTON, srcNPI byte
		src, dest      string
		parts          int
		check          func(t *testing.T, pdus []*SM)
	}{
		{"alphanumeric sender is TON 5 NPI 0, destination loses its plus", Submission{Source: "Ziett", Dest: "+244990000001", Text: "hi"},
			LongUDH, 5, 0, "Ziett", "244990000001", 1, nil},
		{"long number sender is international", Submission{Source: "+244923456789", Dest: "244990000001", Text: "hi"},
			LongUDH, 1, 1, "244923456789", "244990000001", 1, nil},
		{"short code of up to 8 digits is TON 3", Submission{Source: "12345", Dest: "244990000001", Text: "hi"},
			LongUDH, 3, 0, "12345", "244990000001", 1, nil},
		{"UDH parts carry 05 00 03 ref total seq and the UDHI bit", Submission{Source: "Ziett", Dest: "1", Text: long},
			LongUDH, 5, 0, "Ziett", "1", 2, func(t *testing.T, p []*SM) {
				for i, sm := range p {
					if sm.ESMClass != ESMClassUDHI || !bytes.Equal(sm.ShortMessage[:6], []byte{5, 0, 3, 0x7E, 2, byte(i + 1)}) {
						t.Errorf("part %d: esm %#x udh % X", i, sm.ESMClass, sm.ShortMessage[:6])
					}
				}
				if len(p[0].ShortMessage) != 6+153 || len(p[1].ShortMessage) != 6+47 {
					t.Errorf("part sizes %d %d", len(p[0].ShortMessage), len(p[1].ShortMessage))
				}
			}},
		{"SAR parts carry the three TLVs", Submission{Source: "Ziett", Dest: "1", Text: long},
			LongSAR, 5, 0, "Ziett", "1", 2, func(t *testing.T, p []*SM) {
				for i, sm := range p {
					r, _ := sm.TLVs.Uint(TagSARMsgRefNum)
					n, _ := sm.TLVs.Uint(TagSARTotalSegments)
					q, _ := sm.TLVs.Uint(TagSARSegmentSeqnum)
					if sm.ESMClass != 0 || r != 0x7E || n != 2 || q != uint32(i+1) {
						t.Errorf("part %d: %d %d %d", i, r, n, q)
					}
				}
			}},
		{"payload mode sends one PDU with message_payload", Submission{Source: "Ziett", Dest: "1", Text: long},
			LongPayload, 5, 0, "Ziett", "1", 1, func(t *testing.T, p []*SM) {
				if v, ok := p[0].TLVs.Get(TagMessagePayload); !ok || len(v) != 200 || len(p[0].ShortMessage) != 0 {
					t.Errorf("payload %d octets, short_message %d", len(v), len(p[0].ShortMessage))
				}
			}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			r.sub.Ref = ref
			pdus, _, err := BuildSubmits(r.sub, r.mode, 0x7E, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(pdus) != r.parts {
				t.Fatalf("%d PDUs", len(pdus))
			}
			for _, sm := range pdus {
				if sm.SourceTON != r.srcTON || sm.SourceNPI != r.srcNPI || sm.Source != r.src || sm.DestTON != 1 || sm.DestNPI != 1 || sm.Dest != r.dest || sm.RegisteredDelivery != 1 {
					t.Fatalf("addressing %+v", sm)
				}
				if v, ok := sm.TLVs.Get(TagZiettMessageID); !ok || !bytes.Equal(v, ref[:]) {
					t.Fatal("our id TLV missing")
				}
			}
			if r.check != nil {
				r.check(t, pdus)
			}
		})
	}
	ton, npi := byte(2), byte(9)
	pdus, _, _ := BuildSubmits(Submission{Source: "Ziett", Dest: "1", Text: "x"}, LongUDH, 1, &ton, &npi)
	if pdus[0].SourceTON != 2 || pdus[0].SourceNPI != 9 {
		t.Fatal("source TON/NPI overrides ignored")
	}
	for _, bad := range []Submission{{Source: "Z", Dest: "", Text: "x"}, {Source: "Z", Dest: "24499abc", Text: "x"}, {Source: "", Dest: "1", Text: "x"}} {
		if _, _, err := BuildSubmits(bad, LongUDH, 1, nil, nil); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestReceiptTextIsParsed(t *testing.T) {
	rows := []struct {
		name string
		text string
		want Receipt
	}{
		{"the spec's appendix B form",
			"id:0123456789 sub:001 dlvrd:001 submit date:2611301201 done date:2611301202 stat:DELIVRD err:000 text:Hello world",
			Receipt{MessageID: "0123456789", Sub: "001", Dlvrd: "001", Stat: "DELIVRD", Err: "000", Text: "Hello world",
				Submitted: time.Date(2026, 11, 30, 12, 1, 0, 0, time.UTC), Done: time.Date(2026, 11, 30, 12, 2, 0, 0, time.UTC)}},
		{"dates with seconds and upper-case keys, text with colons",
			"ID:ab12 SUB:001 DLVRD:000 SUBMIT DATE:261130120159 DONE DATE:261130120200 STAT:UNDELIV ERR:001 TEXT:id:7 stat:x",
			Receipt{MessageID: "ab12", Sub: "001", Dlvrd: "000", Stat: "UNDELIV", Err: "001", Text: "id:7 stat:x",
				Submitted: time.Date(2026, 11, 30, 12, 1, 59, 0, time.UTC), Done: time.Date(2026, 11, 30, 12, 2, 0, 0, time.UTC)}},
		{"missing fields stay empty", "id:9 stat:EXPIRED", Receipt{MessageID: "9", Stat: "EXPIRED"}},
		{"unreadable dates stay zero", "id:9 submit date:yesterday stat:REJECTD err:", Receipt{MessageID: "9", Stat: "REJECTD"}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			got := ParseReceiptText(r.text)
			r.want.Raw = r.text
			if got.MessageID != r.want.MessageID || got.Stat != r.want.Stat || got.Err != r.want.Err || got.Text != r.want.Text ||
				got.Sub != r.want.Sub || got.Dlvrd != r.want.Dlvrd || !got.Submitted.Equal(r.want.Submitted) || !got.Done.Equal(r.want.Done) || got.Raw != r.text {
				t.Fatalf("got %+v\nwant %+v", got, r.want)
			}
		})
	}
}

func TestDeliveryTellsReceiptsFromMobileOriginated(t *testing.T) {
	// TLVs win over the text: receipted_message_id and message_state.
	d, err := ParseDelivery(&SM{ESMClass: 0x04, Source: "244990000001", Dest: "Ziett", ShortMessage: []byte("id:1 stat:DELIVRD err:000"),
		TLVs: TLVs{CStringTLV(TagReceiptedMessageID, "A1"), Uint8TLV(TagMessageState, StateDelivered)}})
	if err != nil || d.Receipt == nil || d.MO != nil || d.Receipt.MessageID != "A1" || d.Receipt.State != StateDelivered || d.Receipt.Stat != "DELIVRD" {
		t.Fatalf("%+v %v", d.Receipt, err)
	}
	// A receipt with only TLVs (no text) takes its stat from message_state.
	d, err = ParseDelivery(&SM{ESMClass: 0x04, TLVs: TLVs{CStringTLV(TagReceiptedMessageID, "B2"), Uint8TLV(TagMessageState, StateUndeliverable)}})
	if err != nil || d.Receipt.Stat != "UNDELIV" {
		t.Fatalf("%+v %v", d.Receipt, err)
	}
	if _, err := ParseDelivery(&SM{ESMClass: 0x04, ShortMessage: []byte("no fields")}); err == nil {
		t.Fatal("a receipt without an id was accepted")
	}
	// A mobile-originated part in UCS-2 with a UDH.
	d, err = ParseDelivery(&SM{Source: "244990000001", Dest: "Ziett", ESMClass: ESMClassUDHI, DataCoding: CodingUCS2,
		ShortMessage: append([]byte{5, 0, 3, 9, 2, 1}, EncodeUCS2("STOP ж")...)})
	if err != nil || d.MO == nil || d.MO.Text != "STOP ж" || d.MO.Concat == nil || *d.MO.Concat != (UDH{Ref: 9, Total: 2, Seq: 1}) {
		t.Fatalf("%+v %v", d.MO, err)
	}
}
