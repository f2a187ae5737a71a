// An AMQP 1.0 client on Qpid Proton C++ that the end-to-end tests build and drive.
//   proton_client sub URL ADDRESS COUNT TIMEOUT_S [FILTER_KEY=VALUE] [USER PASSWORD]
//   proton_client pub URL ADDRESS COUNT TIMEOUT_S
// Prints one line per event: "attached", "message <subject> <body-kind> <field>",
// "settled <state>", "detached <condition>", and finally "done <count> <why>".
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
#include <iostream>
#include <map>
#include <string>

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

class client : public proton::messaging_handler {
  public:
    std::string mode, url, address, filter, user, password;
    int count = 0;
    double timeout = 10;
    int received = 0, settled = 0, sent = 0;
    bool finished = false;
    proton::connection conn;

    void finish(const std::string& why) {
        if (finished) return;
        finished = true;
        std::cout << "done " << (mode == "sub" ? received : settled) << " " << why << std::endl;
        if (conn) conn.close();
    }

    void on_container_start(proton::container& c) override {
        proton::connection_options co;
        if (!user.empty()) {
            co.user(user).password(password).sasl_allow_insecure_mechs(true)
              .sasl_allowed_mechs("PLAIN");
        }
        conn = c.connect(url, co);
        if (mode == "sub") {
            proton::receiver_options ro;
            if (!filter.empty()) {
                auto eq = filter.find('=');
                std::string k = filter.substr(0, eq), v = filter.substr(eq + 1);
                proton::source::filter_map fm;
                fm.put(proton::symbol(k), proton::value(v));
                ro.source(proton::source_options().filters(fm));
            }
            conn.open_receiver(address, ro);
        } else {
            conn.open_sender(address);
        }
        c.schedule(proton::duration(static_cast<int64_t>(timeout * 1000)),
                   [this]() { conn.work_queue().add([this]() { finish("timeout"); }); });
    }

    void on_receiver_open(proton::receiver&) override { std::cout << "attached" << std::endl; }

    void on_message(proton::delivery&, proton::message& m) override {
        if (finished) return;
        ++received;
        std::cout << "message " << m.subject() << " " << describe_body(m) << std::endl;
        if (count && received >= count) finish("count");
    }

    void on_sendable(proton::sender& s) override {
        while (s.credit() > 0 && sent < count) {
            proton::message m("hello from c++");
            m.subject(address);
            s.send(m);
            ++sent;
        }
    }

    void on_tracker_accept(proton::tracker&) override { settle("accepted"); }
    void on_tracker_reject(proton::tracker&) override { settle("rejected"); }
    void on_tracker_release(proton::tracker&) override { settle("released"); }

    void settle(const char* state) {
        ++settled;
        std::cout << "settled " << state << std::endl;
        if (settled >= count) finish("count");
    }

    // A remote detach carrying an error comes here (not to on_*_close).
    void on_receiver_error(proton::receiver& r) override { detached(r.error()); }
    void on_sender_error(proton::sender& s) override { detached(s.error()); }
    void on_receiver_close(proton::receiver& r) override { detached(r.error()); }
    void on_sender_close(proton::sender& s) override { detached(s.error()); }

    void detached(const proton::error_condition& e) {
        std::cout << "detached " << (e ? e.name() : std::string("none")) << std::endl;
        finish("detached");
    }

    void on_transport_error(proton::transport& t) override {
        std::cout << "error " << t.error().name() << std::endl;
    }
};

}  // namespace

int main(int argc, char** argv) {
    if (argc < 6) {
        std::cerr << "usage: proton_client sub|pub URL ADDRESS COUNT TIMEOUT [K=V] [USER PW]\n";
        return 2;
    }
    client h;
    h.mode = argv[1];
    h.url = argv[2];
    h.address = argv[3];
    h.count = std::stoi(argv[4]);
    h.timeout = std::stod(argv[5]);
    if (argc > 6) h.filter = argv[6];
    if (argc > 8) { h.user = argv[7]; h.password = argv[8]; }
    try {
        proton::container(h).run();
    } catch (const std::exception& e) {
        std::cout << "error " << e.what() << std::endl;
        return 1;
    }
    return 0;
}
