// GNU readline for the attn REPL. Swift cannot assign readline's C globals directly, so the
// setters below do it; the SIGINT installer uses sigaction without SA_RESTART so that a read()
// inside readline returns EINTR and readline calls the signal event hook.
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
static inline void attn_set_event_hook(rl_hook_func_t *f) { rl_signal_event_hook = f; }
static inline void attn_abort_line(void) {
    rl_replace_line("", 0);
    rl_done = 1;
}
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
