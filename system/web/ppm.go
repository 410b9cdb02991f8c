package web

import (
	"errors"
	"fmt"
	"image"
	"strconv"
)

// decodePPM reads a binary PPM (P6, 8 bits a sample), the raw image
// pdftoppm writes: "P6", width, height and the largest sample value as
// decimal numbers, each after white space (with # comments to the end of
// a line), one white-space byte, then the pixels, three bytes each.
func decodePPM(b []byte) (*image.RGBA, error) {
	if len(b) < 2 || b[0] != 'P' || b[1] != '6' {
		return nil, errors.New("ppm: not a binary PPM (P6)")
	}
	pos := 2
	var fields [3]int
	for i := range fields {
		for pos < len(b) && (isSpace(b[pos]) || b[pos] == '#') {
			if b[pos] == '#' {
				for pos < len(b) && b[pos] != '\n' {
					pos++
				}
				continue
			}
			pos++
		}
		start := pos
		for pos < len(b) && b[pos] >= '0' && b[pos] <= '9' && pos-start < 9 {
			pos++
		}
		n, err := strconv.Atoi(string(b[start:pos]))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("ppm: bad header field %d", i+1)
		}
		fields[i] = n
	}
	w, h, maxval := fields[0], fields[1], fields[2]
	if pos >= len(b) || !isSpace(b[pos]) {
		return nil, errors.New("ppm: no white space after the header")
	}
	pos++
	if maxval != 255 {
		return nil, fmt.Errorf("ppm: samples of up to %d, want 255 (8 bits)", maxval)
	}
	if w > 1<<14 || h > 1<<14 {
		return nil, fmt.Errorf("ppm: %d×%d is larger than a page preview", w, h)
	}
	pix := b[pos:]
	if len(pix) != w*h*3 {
		return nil, fmt.Errorf("ppm: %d bytes of pixels for %d×%d, want %d", len(pix), w, h, w*h*3)
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i, j := 0, 0; i < len(pix); i, j = i+3, j+4 {
		img.Pix[j], img.Pix[j+1], img.Pix[j+2], img.Pix[j+3] = pix[i], pix[i+1], pix[i+2], 0xff
	}
	return img, nil
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}
