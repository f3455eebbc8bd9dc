package logfmt

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// benchCorpus is a service log like the one bench/logs.sh makes: plain
// records with a few extras, and one in ten each with req, res or err.
func benchCorpus(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		var ex string
		switch i % 10 {
		case 0:
			ex = fmt.Sprintf(`,"req":{"method":"GET","url":"/api/v1/items/%d?x=1","headers":{"host":"svc.local","user-agent":"curl/8.0","accept":"*/*"},"remoteAddress":"10.0.0.%d","remotePort":%d}`, i, i%255, 40000+i%2000)
		case 1:
			ex = fmt.Sprintf(`,"res":{"statusCode":200,"header":"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"},"latency":%d`, i%5000, i%300)
		case 2:
			ex = `,"err":{"message":"connection reset","name":"Error","stack":"Error: connection reset\n    at Socket.onend (net.js:412:11)\n    at emit (events.js:92:17)","code":"ECONNRESET"}`
		case 3:
			ex = fmt.Sprintf(`,"user":{"id":%d,"name":"user %d","roles":["a","b"]},"note":"a longer note that goes past fifty characters for details"`, i, i)
		default:
			ex = fmt.Sprintf(`,"component":"worker","req_id":"%08x-1c2d","count":%d,"ok":true,"path":"/var/data/file-%d.dat"`, uint32(i*2654435761), i, i%97)
		}
		fmt.Fprintf(&b, `{"name":"api","hostname":"host-%d","pid":%d,"level":30%s,"msg":"handled request number %d","time":"2024-03-01T10:%02d:%02d.%03dZ","v":0}`+"\n",
			i%3, 1000+i%4, ex, i, i/600%60, i/10%60, i*7%1000)
	}
	return b.Bytes()
}

func benchRender(b *testing.B, opts *Options, workers int) {
	data := benchCorpus(20000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	p := &Processor{Opts: opts, Workers: workers}
	for b.Loop() {
		if _, _, err := p.Run(io.Discard, []Input{{R: bytes.NewReader(data)}}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLongOneCore(b *testing.B)  { benchRender(b, &Options{}, 1) }
func BenchmarkLongAllCores(b *testing.B) { benchRender(b, &Options{}, 0) }
func BenchmarkJSONOneCore(b *testing.B)  { benchRender(b, &Options{Mode: ModeJSON, JSONIndent: 2}, 1) }
func BenchmarkShortOneCore(b *testing.B) { benchRender(b, &Options{Mode: ModeShort}, 1) }

func BenchmarkLineLong(b *testing.B) {
	data := benchCorpus(1000)
	lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	r := newRenderer(&Options{})
	var out []byte
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		for _, l := range lines {
			out, _ = r.Line(out[:0], l)
		}
	}
}
