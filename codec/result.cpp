#include "codec/result.hpp"

namespace updproxy::codec {

std::string_view reason_name(Reason r) {
    switch (r) {
        case Reason::ok: return "ok";
        case Reason::short_header: return "short_header";
        case Reason::counts_exceed_size: return "counts_exceed_size";
        case Reason::trailing_bytes: return "trailing_bytes";
        case Reason::name_past_end: return "name_past_end";
        case Reason::label_too_long: return "label_too_long";
        case Reason::name_too_long: return "name_too_long";
        case Reason::pointer_forward: return "pointer_forward";
        case Reason::pointer_beyond: return "pointer_beyond";
        case Reason::pointer_chain: return "pointer_chain";
        case Reason::question_past_end: return "question_past_end";
        case Reason::rr_header_past_end: return "rr_header_past_end";
        case Reason::rdata_past_end: return "rdata_past_end";
        case Reason::rdata_length: return "rdata_length";
        case Reason::rdata_name: return "rdata_name";
        case Reason::txt_string_overrun: return "txt_string_overrun";
        case Reason::nsec_bitmap: return "nsec_bitmap";
        case Reason::opt_misplaced: return "opt_misplaced";
        case Reason::opt_option_overrun: return "opt_option_overrun";
        case Reason::tsig_misplaced: return "tsig_misplaced";
        case Reason::tsig_rdata: return "tsig_rdata";
        case Reason::timeout_rdata: return "timeout_rdata";
        case Reason::update_zone: return "update_zone";
        case Reason::update_prerequisite: return "update_prerequisite";
        case Reason::update_record: return "update_record";
        case Reason::no_space: return "no_space";
        case Reason::bad_presentation: return "bad_presentation";
        case Reason::tsig_missing: return "tsig_missing";
        case Reason::tsig_bad_key: return "tsig_bad_key";
        case Reason::tsig_bad_sig: return "tsig_bad_sig";
        case Reason::tsig_bad_time: return "tsig_bad_time";
        case Reason::tsig_bad_trunc: return "tsig_bad_trunc";
        case Reason::tsig_unsupported_alg: return "tsig_unsupported_alg";
        case Reason::keyfile_syntax: return "keyfile_syntax";
    }
    return "unknown";
}

}  // namespace updproxy::codec
