/* Test harness: runs the model on the compiled-in test vectors and reports over semihosting.
 *
 * Output lines (all start with "TC "):
 *   TC BEGIN <vectors> <input bytes> <output bytes> <layers>   (per vector, all inputs/outputs)
 *   TC O <vector> <output bytes as two hex digits each: every output in order>
 *   TC E <vector> <event>:<systick ticks> ...      (events as in tc_profile.h, hex)
 *   TC C 0 <event>:<ticks> <event>:<ticks>         (calibration: two hooks, nothing between)
 *   TC STACK <bytes of stack ever used>
 *   TC END <status>
 * tc_model_glue.h (generated) maps the model onto the harness: TC_MODEL_INVOKE(v) runs vector v
 * (its inputs read in place from the test data), tc_model_outputs lists the output buffers; output
 * bytes are each output array's, in memory order (little-endian elements).
 */
#include <stdint.h>

#include "tc_model_glue.h"
#include "tc_profile.h"
#include "tc_semihost.h"

extern const uint32_t tc_test_count;

extern uint32_t tc_event_count;
extern uint32_t tc_event_overflow;
extern uint16_t tc_event_id[];
extern uint64_t tc_event_time[];

extern uint32_t _sstack[];
extern uint32_t _estack[];

#define TC_STACK_PAINT 0xC5A5C5A5u

static uint32_t tc_stack_used(void)
{
    const uint32_t *p = _sstack;
    while (p < _estack && *p == TC_STACK_PAINT)
        p++;
    return (uint32_t)((uintptr_t)_estack - (uintptr_t)p);
}

static void tc_report_events(const char *tag, uint32_t v)
{
    uint32_t i;

    tc_out_str(tag);
    tc_out_u32(v);
    for (i = 0; i < tc_event_count; i++) {
        uint64_t t = tc_event_time[i];
        tc_out_str(" ");
        tc_out_hex32(tc_event_id[i]);
        tc_out_str(":");
        tc_out_hex32((uint32_t)(t >> 32));
        tc_out_hex32((uint32_t)t);
    }
    tc_out_str("\n");
    tc_out_flush();
}

static void tc_report_output(uint32_t v)
{
    static const char digits[] = "0123456789abcdef";
    char hex[3];
    uint32_t i, k;

    tc_out_str("TC O ");
    tc_out_u32(v);
    tc_out_str(" ");
    hex[2] = '\0';
    for (k = 0; k < TC_MODEL_NUM_OUTPUTS; k++) {
        const uint8_t *bytes = (const uint8_t *)tc_model_outputs[k].data;
        for (i = 0; i < tc_model_outputs[k].bytes; i++) {
            uint8_t b = bytes[i];
            hex[0] = digits[b >> 4];
            hex[1] = digits[b & 0xFu];
            tc_out_str(hex);
        }
    }
    tc_out_str("\n");
}

int tc_main(void)
{
    uint32_t v;
    int status = 0;

    tc_profile_start();
    tc_out_str("TC BEGIN ");
    tc_out_u32(tc_test_count);
    tc_out_str(" ");
    tc_out_u32(TC_MODEL_INPUT_BYTES);
    tc_out_str(" ");
    tc_out_u32(TC_MODEL_OUTPUT_BYTES);
    tc_out_str(" ");
    tc_out_u32(TC_MODEL_NUM_LAYERS);
    tc_out_str("\n");
    tc_out_flush();

    /* Calibration: the cost of the hooks themselves, subtracted on the host. */
    tc_event_count = 0;
    tc_mark(TC_EV_CAL_BEGIN);
    tc_mark(TC_EV_CAL_END);
    tc_report_events("TC C ", 0);

    for (v = 0; v < tc_test_count; v++) {
        int rc;
        tc_event_count = 0;
        tc_mark(TC_EV_INFER_BEGIN);
        rc = TC_MODEL_INVOKE(v);
        tc_mark(TC_EV_INFER_END);
        if (rc != 0) {
            tc_out_str("TC ERR invoke returned -");
            tc_out_u32((uint32_t)-rc);
            tc_out_str("\n");
            status = 1;
        }
        tc_report_output(v);
        tc_report_events("TC E ", v);
    }
    if (tc_event_overflow) {
        tc_out_str("TC ERR event log overflow\n");
        status = 1;
    }
    tc_out_str("TC STACK ");
    tc_out_u32(tc_stack_used());
    tc_out_str("\nTC END ");
    tc_out_u32((uint32_t)status);
    tc_out_str("\n");
    tc_out_flush();
    return status;
}
