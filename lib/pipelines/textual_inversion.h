/* textual_inversion.h — textual-inversion embeddings added to a loaded
 * model's (decoder's) tokenizer and text encoder, as diffusers v0.26.3's
 * TextualInversionLoaderMixin.load_textual_inversion adds them; the
 * prompts are converted (multi-vector tokens) by gen_encode_text through
 * dif__clip_convert_prompt. For Stable unCLIP only the decoder's tokenizer
 * and text encoder receive them (the Karlo prior's are separate models,
 * which diffusers leaves alone too). */
#ifndef DIF__PIPELINES_TEXTUAL_INVERSION_H
#define DIF__PIPELINES_TEXTUAL_INVERSION_H

#include "io/embedding.h"
#include "pipelines/models.h"

/* Adds e[0..n) in order, each as its own load_textual_inversion call
 * would: its token as given (matched case-sensitively; clip_tokenizer.h),
 * and for n vectors the tokens "tok", "tok_1", …
 * "tok_{n-1}" with consecutive ids from len(tokenizer), their rows set to
 * the vectors. Everything is checked first, naming the file: a token
 * already in the vocabulary (diffusers' ValueError "Token … already in
 * tokenizer vocabulary"; for n > 1 also "tok_1" … "tok_{n-1}", which
 * diffusers would silently reuse), the same token from two files, a width
 * that is not the text encoder's (the file, its tensor and both widths).
 * On an error nothing was added, except when memory runs out half-way (the
 * caller then frees the models, as a failed load does). */
dif_status dif__models_add_embeddings(dif__models *m, const dif__embedding *e, int n,
                                      dif__error *err);

#endif
