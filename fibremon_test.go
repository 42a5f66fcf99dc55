package fibremon

import (
	"errors"
	"io"
	"testing"
)

func TestErrorKinds(t *testing.T) {
	err := Errorf(Transient, "read: %w", io.EOF)
	if got, want := err.Error(), "read: EOF"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
	if !errors.Is(err, io.EOF) || KindOf(err) != Transient {
		t.Errorf("errors.Is(EOF) / KindOf = %v / %v", errors.Is(err, io.EOF), KindOf(err))
	}
	fe := FieldErrorf("values.loss_ratio", "negative")
	if got := withField("results[3]", fe); FieldOf(got) != "results[3].values.loss_ratio" || got.Error() != "results[3].values.loss_ratio: negative" {
		t.Errorf("withField = %q (field %q)", got, FieldOf(got))
	}
	if KindOf(io.EOF) != KindUnknown {
		t.Error("KindOf(plain error) is not KindUnknown")
	}
}
