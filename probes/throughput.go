package probes

import (
	"context"
	"log/slog"
	"net/url"

	"fibremon"
	"fibremon/probes/ndt7"
)

// Download measures the download speed of the line with an ndt7 test
// against the server at t.Address (http(s):// or ws(s)://). The speed is
// computed at the receiver, the probe, as the ndt7 spec says.
func Download(ctx context.Context, t Target, logger *slog.Logger) (Measurement, error) {
	return throughput(ctx, t, fibremon.KindDownload, logger)
}

// Upload measures the upload speed of the line with an ndt7 test; the speed
// comes from the bytes the server reports it received.
func Upload(ctx context.Context, t Target, logger *slog.Logger) (Measurement, error) {
	return throughput(ctx, t, fibremon.KindUpload, logger)
}

func throughput(ctx context.Context, t Target, kind fibremon.Kind, logger *slog.Logger) (Measurement, error) {
	if err := checkKind(t, kind); err != nil {
		return Measurement{}, err
	}
	u, err := url.Parse(t.Address)
	if err != nil || u.Host == "" {
		return Measurement{}, badTargetf("ndt7 server %q: want an http(s) or ws(s) URL", t.Address)
	}
	switch u.Scheme {
	case "http", "https", "ws", "wss":
	default:
		return Measurement{}, badTargetf("ndt7 server %q: want an http(s) or ws(s) URL", t.Address)
	}
	if t.Duration < 0 || t.Duration > ndt7.MaxDuration {
		return Measurement{}, badTargetf("ndt7 duration %v out of range (0, %v]", t.Duration, ndt7.MaxDuration)
	}
	ctx, cancel, _ := withTimeout(ctx)
	defer cancel()
	c := &ndt7.Client{Duration: t.Duration, UserAgent: "fibreprobe"}
	if t.Dial != nil {
		c.Dial = t.Dial
	}
	var s ndt7.Summary
	if kind == fibremon.KindDownload {
		s, err = c.Download(ctx, t.Address)
	} else {
		s, err = c.Upload(ctx, t.Address)
	}
	if err != nil {
		if cerr := cancelled(ctx); cerr != nil {
			return Measurement{}, cerr
		}
		logger.Debug("ndt7 test failed", "kind", kind, "target", t.Address, "err", err)
		return Measurement{Method: MethodNDT7, Err: truncate(err.Error())}, nil
	}
	key := fibremon.DownloadBytesPerSecond
	if kind == fibremon.KindUpload {
		key = fibremon.UploadBytesPerSecond
	}
	m := Measurement{Up: true, Method: MethodNDT7, Values: map[string]float64{
		key:                       s.BytesPerSecond,
		fibremon.TransferredBytes: float64(s.Bytes),
	}}
	if s.MinRTT > 0 {
		m.Values[fibremon.MinRTTSeconds] = s.MinRTT.Seconds()
	}
	if s.RetransmissionRatio >= 0 && s.RetransmissionRatio <= 1 {
		m.Values[fibremon.RetransmissionRatio] = s.RetransmissionRatio
	}
	return m, nil
}
