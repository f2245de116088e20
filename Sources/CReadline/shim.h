// GNU readline for the attn REPL. Swift cannot assign readline's C globals directly, so the
// setters below do it; the SIGINT installer uses sigaction without SA_RESTART so that the read()
// in attn's getc function returns EINTR and Ctrl-C can end the line being typed.
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <readline/readline.h>
#include <readline/history.h>

static inline void attn_set_completion(rl_completion_func_t *f) { rl_attempted_completion_function = f; }
static inline void attn_set_completion_append(int c) { rl_completion_append_character = c; }
static inline void attn_set_word_breaks(const char *s) { rl_basic_word_break_characters = s; }
static inline void attn_disable_filename_completion(void) { rl_attempted_completion_over = 1; }
static inline void attn_set_catch_signals(int on) { rl_catch_signals = on; }
static inline void attn_set_getc(rl_getc_func_t *f) { rl_getc_function = f; }
static inline char **attn_completion_matches(const char *text, rl_compentry_func_t *f) {
    return rl_completion_matches(text, f);
}
static inline int attn_install_sigint(void (*handler)(int)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    return sigaction(SIGINT, &sa, NULL);
}
