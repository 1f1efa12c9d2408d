package smpp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// hexb reads hex with spaces and comments ("# …" to the end of a line), so
// the byte layouts below can be written field by field as the spec's
// tables give them.
func hexb(t testing.TB, s string) []byte {
	t.Helper()
	var clean strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		clean.WriteString(strings.ReplaceAll(strings.ReplaceAll(line, " ", ""), "\t", ""))
	}
	b, err := hex.DecodeString(clean.String())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func cs(s string) string { return hex.EncodeToString(append([]byte(s), 0)) }

// Each row is a PDU laid out octet by octet from the SMPP v3.4 field tables
// (chapter 4), and the value it must decode to; encoding the value must
// give back the same octets.
func TestCodecMatchesTheSpecLayouts(t *testing.T) {
	rows := []struct {
		name string
		wire string
		pdu  PDU
	}{
		{"enquire_link is a bare header", `
			00000010 # command_length 16
			00000015 # enquire_link
			00000000 # command_status
			00000001 # sequence_number`,
			PDU{Header: Header{Length: 16, ID: EnquireLink, Seq: 1}}},
		{"generic_nack carries the status", `00000010 80000000 00000003 0000002A`,
			PDU{Header: Header{Length: 16, ID: GenericNack, Status: ESME_RINVCMDID, Seq: 42}}},
		{"unbind_resp", `00000010 80000006 00000000 7FFFFFFF`,
			PDU{Header: Header{Length: 16, ID: UnbindResp, Seq: 0x7FFFFFFF}}},
		{"bind_transmitter has five C-strings and three octets", `
			0000002F 00000002 00000000 00000001
			` + cs("SMPP3TEST") + ` # system_id
			` + cs("secret08") + ` # password
			` + cs("SUBMIT1") + ` # system_type
			34 # interface_version
			01 01 # addr_ton addr_npi
			00 # address_range`,
			PDU{Header: Header{Length: 0x2F, ID: BindTransmitter, Seq: 1},
				Body: &Bind{SystemID: "SMPP3TEST", Password: "secret08", SystemType: "SUBMIT1", InterfaceVersion: 0x34, AddrTON: 1, AddrNPI: 1}}},
		{"bind_transceiver_resp with sc_interface_version TLV", `
			0000001C 80000009 00000000 00000001
			` + cs("SMSC01") + `
			0210 0001 34 # sc_interface_version`,
			PDU{Header: Header{Length: 0x1C, ID: BindTransceiverResp, Seq: 1},
				Body: &BindResp{SystemID: "SMSC01", TLVs: TLVs{{Tag: TagSCInterfaceVersion, Value: []byte{0x34}}}}}},
		{"bind_receiver_resp refused without a body", `00000010 80000001 0000000E 00000002`,
			PDU{Header: Header{Length: 16, ID: BindReceiverResp, Status: ESME_RINVPASWD, Seq: 2}, Body: &BindResp{}}},
		{"submit_sm with alphanumeric source, GSM text and our id TLV", `
			0000004B 00000004 00000000 00000005
			00 # service_type
			05 00 ` + cs("ZIETT") + ` # source TON NPI addr
			01 01 ` + cs("244990000001") + ` # dest TON NPI addr
			00 00 00 # esm_class protocol_id priority_flag
			00 00 # schedule_delivery_time validity_period
			01 00 00 00 # registered_delivery replace_if_present data_coding sm_default_msg_id
			05 68656c6c6f # sm_length short_message "hello"
			1501 0010 00112233445566778899aabbccddeeff # vendor TLV`,
			PDU{Header: Header{Length: 0x4B, ID: SubmitSM, Seq: 5}, Body: &SM{
				SourceTON: 5, Source: "ZIETT", DestTON: 1, DestNPI: 1, Dest: "244990000001", RegisteredDelivery: 1,
				ShortMessage: []byte("hello"),
				TLVs:         TLVs{{Tag: TagZiettMessageID, Value: hexb(t, "00112233445566778899aabbccddeeff")}}}}},
		{"submit_sm with schedule and validity times and a UDH", `
			00000061 00000004 00000000 00000006
			` + cs("CMT") + `
			01 01 ` + cs("923456789") + `
			01 01 ` + cs("244990000002") + `
			40 00 01 # esm_class UDHI, priority 1
			` + cs("261130123456000+") + ` # schedule_delivery_time
			` + cs("000001000000000R") + ` # validity_period (relative)
			01 00 08 00
			08 050003A70201 0416 # UDH then UCS-2 "Ж"`,
			PDU{Header: Header{Length: 0x61, ID: SubmitSM, Seq: 6}, Body: &SM{
				ServiceType: "CMT", SourceTON: 1, SourceNPI: 1, Source: "923456789", DestTON: 1, DestNPI: 1, Dest: "244990000002",
				ESMClass: 0x40, PriorityFlag: 1, ScheduleDeliveryTime: "261130123456000+", ValidityPeriod: "000001000000000R",
				RegisteredDelivery: 1, DataCoding: 8, ShortMessage: hexb(t, "050003A702010416")}}},
		{"submit_sm_resp carries the SMSC's message id", `
			0000001A 80000004 00000000 00000005
			` + cs("9f1c2a3b4"),
			PDU{Header: Header{Length: 0x1A, ID: SubmitSMResp, Seq: 5}, Body: &SMResp{MessageID: "9f1c2a3b4"}}},
		{"submit_sm_resp with an error has no body", `00000010 80000004 00000058 00000007`,
			PDU{Header: Header{Length: 16, ID: SubmitSMResp, Status: ESME_RTHROTTLED, Seq: 7}, Body: &SMResp{}}},
		{"deliver_sm receipt with receipted_message_id and message_state", `
			0000004B 00000005 00000000 00000009
			00 01 01 ` + cs("244990000001") + `
			05 00 ` + cs("ZIETT") + `
			04 00 00 00 00 00 00 00 00
			0D ` + hex.EncodeToString([]byte("id:77 stat:DE")) + `
			001E 0003 373700 # receipted_message_id "77"
			0427 0001 02 # message_state DELIVERED`,
			PDU{Header: Header{Length: 0x4B, ID: DeliverSM, Seq: 9}, Body: &SM{
				SourceTON: 1, SourceNPI: 1, Source: "244990000001", DestTON: 5, Dest: "ZIETT", ESMClass: 4,
				ShortMessage: []byte("id:77 stat:DE"),
				TLVs:         TLVs{{Tag: TagReceiptedMessageID, Value: []byte("77\x00")}, {Tag: TagMessageState, Value: []byte{2}}}}}},
		{"deliver_sm_resp has a NULL message_id", `00000011 80000005 00000000 00000009 00`,
			PDU{Header: Header{Length: 0x11, ID: DeliverSMResp, Seq: 9}, Body: &SMResp{}}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			wire := hexb(t, r.wire)
			got, err := Decode(wire)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, r.pdu) {
				t.Fatalf("decoded\n%#v\nwant\n%#v", got, r.pdu)
			}
			if r.pdu.Status != 0 && len(wire) == HeaderLen {
				return // bodiless error responses are encoded with a body
			}
			enc, err := Encode(r.pdu)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if !bytes.Equal(enc, wire) {
				t.Fatalf("encoded\n%x\nwant\n%x", enc, wire)
			}
		})
	}
}

func TestDecoderRejectsMalformedPDUs(t *testing.T) {
	rows := []struct {
		name string
		wire string
		want error
	}{
		{"shorter than a header", `0000001000000015`, ErrShortPDU},
		{"command_length below 16", `0000000F 00000015 00000000 00000001`, ErrBadLength},
		{"command_length over the limit", `00100000 00000015 00000000 00000001`, ErrBadLength},
		{"command_length disagrees with the octets", `00000014 00000015 00000000 00000001`, ErrBadLength},
		{"unknown command id", `00000010 00000103 00000000 00000001`, ErrUnknownCmd},
		{"body on a command without one", `00000011 00000015 00000000 00000001 00`, ErrBadLength},
		{"system_id without NULL", `00000014 00000002 00000000 00000001 41424344`, ErrBadField},
		{"system_id longer than 15", `00000029 00000002 00000000 00000001 ` + cs("ABCDEFGHIJKLMNOP") + cs("pw") + cs("") + `340000` + cs(""), ErrBadField},
		{"bind with trailing octets", `00000018 00000002 00000000 00000001 00 00 00 34 00 00 00 FF`, ErrBadLength},
		{"sm_length past the end", `
			00000024 00000004 00000000 00000001
			00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 20`, ErrBadField},
		{"TLV length past the end", `
			0000002A 00000004 00000000 00000001
			00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
			0424 0010 4142`, ErrBadField},
		{"stray octets after TLVs", `
			00000027 00000004 00000000 00000001
			00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01 02 03`, ErrBadField},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			_, err := Decode(hexb(t, r.wire))
			if !errors.Is(err, r.want) {
				t.Fatalf("got %v, want %v", err, r.want)
			}
		})
	}
}

func TestEncoderRefusesFieldsTheSpecForbids(t *testing.T) {
	rows := []struct {
		name string
		body Body
	}{
		{"system_id over 15", &Bind{SystemID: "abcdefghijklmnop"}},
		{"password over 8", &Bind{SystemID: "a", Password: "123456789"}},
		{"destination over 20", &SM{Dest: strings.Repeat("1", 21)}},
		{"short_message over 254", &SM{Dest: "1", ShortMessage: make([]byte, 255)}},
		{"validity period not 16 characters", &SM{Dest: "1", ValidityPeriod: "1h"}},
		{"NULL inside a C-string", &SM{Source: "a\x00b"}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			if _, err := Encode(PDU{Header: Header{ID: SubmitSM}, Body: r.body}); !errors.Is(err, ErrBadField) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestReadPDUFramesAStream(t *testing.T) {
	a, _ := Encode(PDU{Header: Header{ID: EnquireLink, Seq: 1}})
	b, _ := Encode(PDU{Header: Header{ID: SubmitSMResp, Seq: 2}, Body: &SMResp{MessageID: strings.Repeat("9", 64)}})
	r := bytes.NewReader(append(append([]byte{}, a...), b...))
	var buf []byte
	for i, want := range [][]byte{a, b} {
		got, err := ReadPDU(r, buf)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("pdu %d: %x %v", i, got, err)
		}
		buf = got[:0]
	}
	if _, err := ReadPDU(r, buf); err == nil {
		t.Fatal("read past the end")
	}
	if _, err := ReadPDU(bytes.NewReader(a[:10]), nil); err == nil {
		t.Fatal("a cut header read as a PDU")
	}
}

func TestStatusNamesAndKinds(t *testing.T) {
	rows := []struct {
		status    uint32
		name      string
		temporary bool
	}{
		{ESME_RTHROTTLED, "ESME_RTHROTTLED", true},
		{ESME_RMSGQFUL, "ESME_RMSGQFUL", true},
		{ESME_RX_T_APPN, "ESME_RX_T_APPN", true},
		{ESME_RSYSERR, "ESME_RSYSERR", true},
		{ESME_RINVDSTADR, "ESME_RINVDSTADR", false},
		{ESME_RINVSRCADR, "ESME_RINVSRCADR", false},
		{ESME_RINVMSGLEN, "ESME_RINVMSGLEN", false},
		{0x00000401, "0x00000401", false},
	}
	for _, r := range rows {
		e := NewStatusError(r.status)
		if e.Name != r.name || e.Temporary != r.temporary || !strings.Contains(e.Error(), r.name) {
			t.Errorf("%#x: %+v", r.status, e)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, p := range []PDU{
		{Header: Header{ID: EnquireLink, Seq: 1}},
		{Header: Header{ID: BindTransceiver, Seq: 1}, Body: &Bind{SystemID: "a", Password: "b", InterfaceVersion: 0x34}},
		{Header: Header{ID: SubmitSM, Seq: 2}, Body: &SM{Dest: "244", ShortMessage: []byte("hi"), TLVs: TLVs{CStringTLV(TagReceiptedMessageID, "1")}}},
		{Header: Header{ID: DeliverSMResp, Seq: 3}, Body: &SMResp{}},
	} {
		b, err := Encode(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Decode(b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes, and decodes to the same value.
		enc, err := Encode(p)
		if err != nil {
			if p.Body == nil || p.Status != 0 {
				return
			}
			t.Fatalf("decoded %#v but cannot encode it: %v", p, err)
		}
		p2, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-encoded PDU does not decode: %v", err)
		}
		p.Length, p2.Length = 0, 0
		if !reflect.DeepEqual(normalize(p), normalize(p2)) {
			t.Fatalf("round trip changed\n%#v\n%#v", p, p2)
		}
		if sm, ok := p.Body.(*SM); ok && p.ID == DeliverSM {
			_, _ = ParseDelivery(sm) // must not panic
		}
	})
}

// normalize makes nil and empty slices equal.
func normalize(p PDU) PDU {
	switch b := p.Body.(type) {
	case *SM:
		c := *b
		if len(c.ShortMessage) == 0 {
			c.ShortMessage = nil
		}
		if len(c.TLVs) == 0 {
			c.TLVs = nil
		}
		p.Body = &c
	case *BindResp:
		c := *b
		if len(c.TLVs) == 0 {
			c.TLVs = nil
		}
		p.Body = &c
	}
	return p
}
