// An AMQP 1.0 client on Qpid Proton C++ that the end-to-end tests build and drive.
//
// Legacy form (plain text lines, kept for the older tests):
//   proton_client sub URL ADDRESS COUNT TIMEOUT_S [FILTER_KEY=VALUE] [USER PASSWORD]
//   proton_client pub URL ADDRESS COUNT TIMEOUT_S
// prints one line per event: "attached", "message <subject> <body-kind> <field>",
// "settled <state>", "detached <condition>", and finally "done <count> <why>".
//
// Flag form (JSON lines like tests/clients/proton_client.py and tests/js/rhea_client.js):
//   proton_client sub URL ADDRESS [--count N] [--timeout S] [--filter K=V]...
//                 [--filter-long K=N]... [--credit N] [--stall-after N --stall-for S]
//                 [--user U --password P] [--mech MECH] [--close-link-first]
//   proton_client pub URL ADDRESS [--count N] [--timeout S] [--body TEXT] [--size BYTES]
//                 [--prop K=V]... [--user U --password P] [--mech MECH]
// prints {"event": "message", "subject", "annotations", "properties", "content_type",
// "body"} per message (binary as {"binary": base64}), {"event": "settled", "state"},
// {"event": "detached"/"error", "condition", "description"}, {"event": "stalled"/"resumed",
// "received"} and finally {"event": "done", "received", "sent", "settled", "why"}.
#include <proton/codec/decoder.hpp>
#include <proton/connection.hpp>
#include <proton/connection_options.hpp>
#include <proton/container.hpp>
#include <proton/delivery.hpp>
#include <proton/message.hpp>
#include <proton/messaging_handler.hpp>
#include <proton/receiver.hpp>
#include <proton/receiver_options.hpp>
#include <proton/sender.hpp>
#include <proton/source_options.hpp>
#include <proton/tracker.hpp>
#include <proton/transport.hpp>
#include <proton/types.hpp>
#include <proton/work_queue.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

std::string describe_body(const proton::message& m) {
    const proton::value& b = m.body();
    if (b.type() == proton::MAP) {
        std::map<std::string, proton::value> fields;
        proton::get(b, fields);
        auto it = fields.find("symbol");
        return "map " + (it == fields.end() ? std::string("-") : proton::to_string(it->second));
    }
    if (b.type() == proton::BINARY) {
        return "binary " + std::to_string(proton::get<proton::binary>(b).size());
    }
    if (b.type() == proton::STRING) return "string " + proton::get<std::string>(b);
    return "other " + proton::type_name(b.type());
}

std::string base64(const std::vector<uint8_t>& in) {
    static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        uint32_t n = (in[i] << 16) | (in[i + 1] << 8) | in[i + 2];
        out += t[n >> 18];
        out += t[(n >> 12) & 63];
        out += t[(n >> 6) & 63];
        out += t[n & 63];
    }
    if (i + 1 == in.size()) {
        uint32_t n = in[i] << 16;
        out += t[n >> 18];
        out += t[(n >> 12) & 63];
        out += "==";
    } else if (i + 2 == in.size()) {
        uint32_t n = (in[i] << 16) | (in[i + 1] << 8);
        out += t[n >> 18];
        out += t[(n >> 12) & 63];
        out += t[(n >> 6) & 63];
        out += '=';
    }
    return out;
}

std::string jstr(const std::string& s) {
    std::string o = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            o += '\\';
            o += static_cast<char>(c);
        } else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            o += buf;
        } else {
            o += static_cast<char>(c);
        }
    }
    return o + "\"";
}

void json(std::ostream& o, const proton::value& v);

// A map or list, element by element with the decoder (keys of any type: strings and
// symbols by their text, others by proton's to_string).
void json_compound(std::ostream& o, const proton::value& v, bool is_map) {
    proton::codec::decoder d(v);
    proton::codec::start s;
    d >> s;
    o << (is_map ? "{" : "[");
    size_t n = is_map ? s.size / 2 : s.size;
    for (size_t i = 0; i < n; ++i) {
        if (i) o << ",";
        if (is_map) {
            proton::value k;
            d >> k;
            if (k.type() == proton::STRING || k.type() == proton::SYMBOL) {
                o << jstr(proton::coerce<std::string>(k));
            } else {
                o << jstr(proton::to_string(k));
            }
            o << ":";
        }
        proton::value x;
        d >> x;
        json(o, x);
    }
    d >> proton::codec::finish();
    o << (is_map ? "}" : "]");
}

void json(std::ostream& o, const proton::value& v) {
    switch (v.type()) {
        case proton::NULL_TYPE: o << "null"; break;
        case proton::BOOLEAN: o << (proton::get<bool>(v) ? "true" : "false"); break;
        case proton::UBYTE:
        case proton::USHORT:
        case proton::UINT:
        case proton::ULONG: o << proton::coerce<uint64_t>(v); break;
        case proton::BYTE:
        case proton::SHORT:
        case proton::INT:
        case proton::LONG: o << proton::coerce<int64_t>(v); break;
        case proton::FLOAT:
        case proton::DOUBLE: {
            std::ostringstream s;
            s.precision(17);
            s << proton::coerce<double>(v);
            o << s.str();
            break;
        }
        case proton::TIMESTAMP: o << proton::get<proton::timestamp>(v).milliseconds(); break;
        case proton::STRING:
        case proton::SYMBOL: o << jstr(proton::coerce<std::string>(v)); break;
        case proton::BINARY: {
            proton::binary b = proton::get<proton::binary>(v);
            o << "{\"binary\":\"" << base64(b) << "\"}";
            break;
        }
        case proton::MAP: json_compound(o, v, true); break;
        case proton::LIST: json_compound(o, v, false); break;
        default: o << jstr(proton::to_string(v)); break;
    }
}

std::string cond_json(const proton::error_condition& e) {
    if (!e) return "\"condition\":null,\"description\":null";
    return "\"condition\":" + jstr(e.name()) + ",\"description\":" + jstr(e.description());
}

std::pair<std::string, std::string> split_kv(const std::string& s) {
    auto eq = s.find('=');
    if (eq == std::string::npos) return {s, ""};
    return {s.substr(0, eq), s.substr(eq + 1)};
}

struct options {
    std::string mode, url, address, user, password, mech, body = "hello from c++";
    std::vector<std::string> filters, filter_longs, props;
    int count = 0, credit = 0, stall_after = 0, size = 0;
    double timeout = 10, stall_for = 2;
    bool json = false, close_link_first = false;
};

class client : public proton::messaging_handler {
  public:
    explicit client(options o) : a(std::move(o)) {}

    options a;
    int received = 0, settled = 0, sent = 0;
    bool finished = false, stalled = false;
    proton::connection conn;
    proton::receiver recv;
    proton::container* cont = nullptr;
    std::chrono::steady_clock::time_point deadline;

    void finish(const std::string& why) {
        if (finished) return;
        finished = true;
        if (a.json) {
            std::cout << "{\"event\":\"done\",\"received\":" << received << ",\"sent\":" << sent
                      << ",\"settled\":" << settled << ",\"why\":" << jstr(why) << "}"
                      << std::endl;
        } else {
            std::cout << "done " << (a.mode == "sub" ? received : settled) << " " << why
                      << std::endl;
        }
        if (!a.json) {
            if (conn) conn.close();
            return;
        }
        try {
            if (a.close_link_first && recv && recv.active()) recv.close();
            if (conn && conn.active()) conn.close();
        } catch (const std::exception&) {
        }
    }

    proton::connection_options conn_options() {
        proton::connection_options co;
        if (!a.user.empty()) {
            co.user(a.user).password(a.password).sasl_allow_insecure_mechs(true)
              .sasl_allowed_mechs(a.mech.empty() ? "PLAIN" : a.mech);
        } else if (!a.mech.empty()) {
            co.sasl_enabled(true).sasl_allowed_mechs(a.mech);
        }
        return co;
    }

    proton::receiver_options recv_options() {
        proton::receiver_options ro;
        proton::source::filter_map fm;
        for (const auto& f : a.filters) {
            auto kv = split_kv(f);
            fm.put(proton::symbol(kv.first), proton::value(kv.second));
        }
        for (const auto& f : a.filter_longs) {
            auto kv = split_kv(f);
            fm.put(proton::symbol(kv.first), proton::value(int64_t(std::stoll(kv.second))));
        }
        if (!fm.empty()) ro.source(proton::source_options().filters(fm));
        if (a.credit) ro.credit_window(0);
        return ro;
    }

    void on_container_start(proton::container& c) override {
        cont = &c;
        conn = c.connect(a.url, conn_options());
        if (a.mode == "sub") {
            recv = conn.open_receiver(a.address, recv_options());
        } else {
            conn.open_sender(a.address);
        }
        deadline = std::chrono::steady_clock::now() +
                   std::chrono::milliseconds(static_cast<int64_t>(a.timeout * 1000));
        tick();
    }

    // The timeout as a short timer that re-arms itself until done (one long timer would
    // keep the container running after the connection closed).
    void tick() {
        if (finished) return;
        if (std::chrono::steady_clock::now() >= deadline) {
            finish("timeout");
            return;
        }
        cont->schedule(proton::duration(100), [this]() {
            if (!finished) conn.work_queue().add([this]() { tick(); });
        });
    }

    void on_receiver_open(proton::receiver& r) override {
        if (a.json) {
            std::cout << "{\"event\":\"attached\"}" << std::endl;
        } else {
            std::cout << "attached" << std::endl;
        }
        if (a.credit) r.add_credit(a.credit);
    }

    void print_message(const proton::message& m) {
        std::ostringstream o;
        o << "{\"event\":\"message\",\"subject\":" << jstr(m.subject()) << ",\"annotations\":";
        if (m.message_annotations().empty()) {
            o << "{}";
        } else {
            json(o, m.message_annotations().value());
        }
        o << ",\"properties\":";
        if (m.properties().empty()) {
            o << "{}";
        } else {
            json(o, m.properties().value());
        }
        o << ",\"content_type\":";
        if (m.content_type().empty()) {
            o << "null";
        } else {
            o << jstr(m.content_type());
        }
        o << ",\"durable\":" << (m.durable() ? "true" : "false") << ",\"body\":";
        json(o, m.body());
        o << "}";
        std::cout << o.str() << std::endl;
    }

    void on_message(proton::delivery& d, proton::message& m) override {
        if (finished) return;
        ++received;
        if (!a.json) {
            std::cout << "message " << m.subject() << " " << describe_body(m) << std::endl;
        } else {
            print_message(m);
        }
        if (a.count && received >= a.count) {
            finish("count");
            return;
        }
        proton::receiver r = d.receiver();
        if (a.credit && !stalled && r.credit() == 0) {
            if (a.stall_after && received >= a.stall_after) {
                stalled = true;
                std::cout << "{\"event\":\"stalled\",\"received\":" << received << "}"
                          << std::endl;
                cont->schedule(proton::duration(static_cast<int64_t>(a.stall_for * 1000)),
                               [this]() {
                                   if (!finished) conn.work_queue().add([this]() { resume(); });
                               });
            } else {
                r.add_credit(a.credit);
            }
        }
    }

    void resume() {
        if (finished) return;
        stalled = false;
        std::cout << "{\"event\":\"resumed\",\"received\":" << received << "}" << std::endl;
        recv.add_credit(a.credit);
    }

    proton::message outgoing() {
        proton::message m;
        if (a.size) {
            std::vector<uint8_t> b(a.size);
            for (int i = 0; i < a.size; ++i) b[i] = static_cast<uint8_t>((i * 7 + sent) % 251);
            m.body(proton::binary(b.begin(), b.end()));
        } else {
            m.body(a.body);
        }
        m.subject(a.address);
        for (const auto& p : a.props) {
            auto kv = split_kv(p);
            m.properties().put(kv.first, kv.second);
        }
        return m;
    }

    void on_sendable(proton::sender& s) override {
        while (s.credit() > 0 && sent < a.count) {
            s.send(outgoing());
            ++sent;
        }
    }

    void on_tracker_accept(proton::tracker&) override { settle("accepted"); }
    void on_tracker_reject(proton::tracker&) override { settle("rejected"); }
    void on_tracker_release(proton::tracker&) override { settle("released"); }

    void settle(const char* state) {
        ++settled;
        if (a.json) {
            std::cout << "{\"event\":\"settled\",\"state\":" << jstr(state) << "}" << std::endl;
        } else {
            std::cout << "settled " << state << std::endl;
        }
        if (settled >= a.count) finish("count");
    }

    // A remote detach carrying an error comes here (not to on_*_close).
    void on_receiver_error(proton::receiver& r) override { detached(r.error()); }
    void on_sender_error(proton::sender& s) override { detached(s.error()); }
    void on_receiver_close(proton::receiver& r) override { detached(r.error()); }
    void on_sender_close(proton::sender& s) override { detached(s.error()); }

    void detached(const proton::error_condition& e) {
        if (finished) return;
        if (a.json) {
            std::cout << "{\"event\":\"detached\"," << cond_json(e) << "}" << std::endl;
        } else {
            std::cout << "detached " << (e ? e.name() : std::string("none")) << std::endl;
        }
        finish("detached");
    }

    void on_transport_error(proton::transport& t) override {
        if (!a.json) {
            std::cout << "error " << t.error().name() << std::endl;
            return;
        }
        if (finished) return;  // a transport ending after we are done is no error
        std::cout << "{\"event\":\"error\"," << cond_json(t.error()) << "}" << std::endl;
        finish("error");
    }
};

bool parse_flags(int argc, char** argv, options& o) {
    for (int i = 4; i < argc; ++i) {
        std::string k = argv[i];
        if (k == "--close-link-first") {
            o.close_link_first = true;
            continue;
        }
        if (i + 1 >= argc) return false;
        std::string v = argv[++i];
        if (k == "--count") o.count = std::stoi(v);
        else if (k == "--timeout") o.timeout = std::stod(v);
        else if (k == "--filter") o.filters.push_back(v);
        else if (k == "--filter-long") o.filter_longs.push_back(v);
        else if (k == "--credit") o.credit = std::stoi(v);
        else if (k == "--stall-after") o.stall_after = std::stoi(v);
        else if (k == "--stall-for") o.stall_for = std::stod(v);
        else if (k == "--user") o.user = v;
        else if (k == "--password") o.password = v;
        else if (k == "--mech") o.mech = v;
        else if (k == "--body") o.body = v;
        else if (k == "--size") o.size = std::stoi(v);
        else if (k == "--prop") o.props.push_back(v);
        else return false;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4) {
        std::cerr << "usage: proton_client sub|pub URL ADDRESS COUNT TIMEOUT [K=V] [USER PW]\n"
                     "   or: proton_client sub|pub URL ADDRESS [--flag value]...\n";
        return 2;
    }
    options o;
    o.mode = argv[1];
    o.url = argv[2];
    o.address = argv[3];
    if (argc > 4 && std::string(argv[4]).rfind("--", 0) == 0) {
        o.json = true;
        if (!parse_flags(argc, argv, o)) {
            std::cerr << "bad flags\n";
            return 2;
        }
        if (o.mode == "pub" && !o.count) o.count = 1;
    } else {
        if (argc < 6) {
            std::cerr << "usage: proton_client sub|pub URL ADDRESS COUNT TIMEOUT\n";
            return 2;
        }
        o.count = std::stoi(argv[4]);
        o.timeout = std::stod(argv[5]);
        if (argc > 6) o.filters.push_back(argv[6]);
        if (argc > 8) { o.user = argv[7]; o.password = argv[8]; }
    }
    client h(o);
    try {
        proton::container(h).run();
    } catch (const std::exception& e) {
        if (o.json) {
            std::cout << "{\"event\":\"error\",\"condition\":\"exception\",\"description\":"
                      << jstr(e.what()) << "}" << std::endl;
        } else {
            std::cout << "error " << e.what() << std::endl;
        }
        return 1;
    }
    return 0;
}
