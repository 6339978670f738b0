/* lora_prompt.h — AUTOMATIC1111's <lora:NAME:WEIGHT> in a dif prompt.
 *
 * Each tag is taken out of the prompt text (as A1111 does: the text
 * encoder never sees it) and becomes the LoRA file DIR/NAME.safetensors
 * with the weight (default 1, from -10 to 10), DIR the --lora-dir folder.
 * NAME is a file name in that folder (no '/', not "." or ".."). */
#ifndef DIF_TOOLS_LORA_PROMPT_H
#define DIF_TOOLS_LORA_PROMPT_H

#include <stddef.h>

#include "cli.h"

/* Removes every tag from prompt (in place) and appends its LoRA to out
 * (file names malloc'd). Returns 0, or -1 with a message in err. */
int lora_prompt_extract(char *prompt, const char *dir, cli_loras *out, char *err, size_t n);

#endif
