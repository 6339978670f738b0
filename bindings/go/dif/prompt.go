package dif

/*
#include <dif.h>
*/
import "C"

import (
	"image"
	"image/color"
)

// Prompt is what to draw: weighted text and image parts plus a negative text
// (dif.h section 6). It is a plain Go value, checked by the library when a
// generation starts; build it with Text, ImageFile, Image or NewPrompt.
type Prompt struct {
	parts    []part
	negative string
}

type part struct {
	text, path string
	rgb        []byte
	w, h       int
	weight     float32
}

// NewPrompt is an empty prompt.
func NewPrompt() *Prompt { return &Prompt{} }

// Text is a prompt of one text part: text-to-image.
func Text(text string) *Prompt { return NewPrompt().AddText(text, 1) }

// ImageFile is a prompt of one PNG or JPEG file: an image variation.
func ImageFile(path string) *Prompt { return NewPrompt().AddImageFile(path, 1) }

// Image is a prompt of one image: an image variation.
func Image(img image.Image) *Prompt { return NewPrompt().AddImage(img, 1) }

// AddText adds a text part with a weight (non-zero; negative pushes away).
func (p *Prompt) AddText(text string, weight float32) *Prompt {
	p.parts = append(p.parts, part{text: text, weight: weight})
	return p
}

// AddImageFile adds a PNG or JPEG file, decoded by libdif, as an image part.
func (p *Prompt) AddImageFile(path string, weight float32) *Prompt {
	p.parts = append(p.parts, part{path: path, weight: weight})
	return p
}

// AddImage adds an image part; its alpha is dropped.
func (p *Prompt) AddImage(img image.Image, weight float32) *Prompt {
	rgb, w, h := toRGB(img)
	p.parts = append(p.parts, part{rgb: rgb, w: w, h: h, weight: weight})
	return p
}

// SetNegative sets the negative text ("" clears it).
func (p *Prompt) SetNegative(text string) *Prompt {
	p.negative = text
	return p
}

// Len is the number of parts.
func (p *Prompt) Len() int { return len(p.parts) }

// toRGB converts any image to RGB8 rows, without alpha (as libdif does).
func toRGB(img image.Image) ([]byte, int, int) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	rgb := make([]byte, 0, w*h*3)
	if n, ok := img.(*image.NRGBA); ok {
		for y := 0; y < h; y++ {
			row := n.Pix[y*n.Stride : y*n.Stride+w*4]
			for x := 0; x < w*4; x += 4 {
				rgb = append(rgb, row[x], row[x+1], row[x+2])
			}
		}
		return rgb, w, h
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			rgb = append(rgb, c.R, c.G, c.B)
		}
	}
	return rgb, w, h
}

// build makes the C prompt; the caller frees it.
func (p *Prompt) build() (*C.dif_prompt, error) {
	var cp *C.dif_prompt
	if s := difPromptNew(&cp); s != OK {
		return nil, newError(s, difLastError())
	}
	for _, pt := range p.parts {
		var s Status
		switch {
		case pt.rgb != nil:
			var px *uint8
			if len(pt.rgb) > 0 {
				px = &pt.rgb[0]
			}
			s = difPromptAddImageRGB(cp, px, int32(pt.w), int32(pt.h), int32(pt.w*3), pt.weight)
		case pt.path != "":
			c := cstr(pt.path)
			s = difPromptAddImageFile(cp, c, pt.weight)
			free(c)
		default:
			c := cstr(pt.text)
			s = difPromptAddText(cp, c, pt.weight)
			free(c)
		}
		if s != OK {
			err := newError(s, difPromptLastError(cp))
			difPromptFree(cp)
			return nil, err
		}
	}
	if p.negative != "" {
		c := cstr(p.negative)
		s := difPromptSetNegative(cp, c)
		free(c)
		if s != OK {
			err := newError(s, difPromptLastError(cp))
			difPromptFree(cp)
			return nil, err
		}
	}
	return cp, nil
}
