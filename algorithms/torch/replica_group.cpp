// ReplicaGroup on c10d: a TCPStore for the rendezvous and messages, ProcessGroupGloo for the
// all-reduces (the CPU backend of PyTorch DDP; NCCL would slot in here on GPU machines).
#include "algorithms/replica_group.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>

#include <chrono>
#include <mutex>

namespace tandem::algo {

namespace {

std::chrono::milliseconds ms(double s) {
  return std::chrono::milliseconds(static_cast<int64_t>(s * 1000.0));
}

// The local address of the route to `host` (a UDP "connect" sends nothing): the interface the
// other replicas reach this one by, when they reach the master the same way.
std::string route_address(const std::string& host, uint16_t port) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res)
    throw GroupError("group: cannot resolve the master host '" + host + "'");
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  std::string out;
  if (fd >= 0 && ::connect(fd, res->ai_addr, res->ai_addrlen) == 0) {
    sockaddr_in local{};
    socklen_t len = sizeof(local);
    char buf[INET_ADDRSTRLEN] = {};
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0 &&
        inet_ntop(AF_INET, &local.sin_addr, buf, sizeof(buf)))
      out = buf;
  }
  if (fd >= 0) ::close(fd);
  freeaddrinfo(res);
  if (out.empty()) throw GroupError("group: no route to the master host '" + host + "'");
  return out;
}

std::string what_of(const std::exception& e) {
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) return c->what_without_backtrace();
  return e.what();
}

}  // namespace

HostPort parse_host_port(const std::string& s, const std::string& what) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size())
    throw std::invalid_argument(what + " must be HOST:PORT, got '" + s + "'");
  HostPort hp;
  hp.host = s.substr(0, colon);
  if (hp.host.front() == '[' || hp.host.find(':') != std::string::npos)
    throw std::invalid_argument(what + ": IPv6 addresses are not supported, use an IPv4 address or a host name: '" + s + "'");
  int port = 0;
  try {
    size_t used = 0;
    port = std::stoi(s.substr(colon + 1), &used);
    if (used != s.size() - colon - 1) port = -1;
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 1 || port > 65535) throw std::invalid_argument(what + ": bad port in '" + s + "'");
  hp.port = static_cast<uint16_t>(port);
  return hp;
}

struct ReplicaGroup::Impl {
  GroupConfig config;
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  mutable std::mutex times_mu;
  GroupTimes times;
};

ReplicaGroup::ReplicaGroup(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ReplicaGroup::~ReplicaGroup() = default;

std::unique_ptr<ReplicaGroup> ReplicaGroup::join(const GroupConfig& config) {
  if (config.size < 2) throw std::invalid_argument("group: group_size must be at least 2 to form a group");
  if (config.rank < 0 || config.rank >= config.size)
    throw std::invalid_argument("group: group_rank " + std::to_string(config.rank) + " is outside 0.." +
                                std::to_string(config.size - 1));
  const HostPort master = parse_host_port(config.master, "group_master");
  // Resolved first: a wrong host fails now, not after the whole join timeout.
  const std::string host = config.host.empty() ? route_address(master.host, master.port) : config.host;
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  try {
    c10d::TCPStoreOptions o;
    o.port = master.port;
    o.isServer = config.rank == 0;
    o.numWorkers = static_cast<size_t>(config.size);
    o.waitWorkers = true;
    o.timeout = ms(config.join_timeout_s);
    impl->store = c10::make_intrusive<c10d::TCPStore>(master.host, o);
    impl->store->setTimeout(ms(config.timeout_s));
  } catch (const std::exception& e) {
    const std::string t = std::to_string(static_cast<int>(config.join_timeout_s));
    throw GroupError(config.rank == 0
                         ? "group: rank 0 could not open the store on port " + std::to_string(master.port) +
                               " (in use?) or the other " + std::to_string(config.size - 1) +
                               " rank(s) did not connect to it within " + t + " s (group_join_timeout_s): " + what_of(e)
                         : "group: rank " + std::to_string(config.rank) + " could not reach rank 0's store at " +
                               config.master + " within " + t + " s (group_join_timeout_s): " + what_of(e));
  }
  try {
    auto opts = c10d::ProcessGroupGloo::Options::create(ms(config.timeout_s));
    opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(host));
    // The Gloo rendezvous waits for every rank under the store timeout: the join timeout here.
    impl->store->setTimeout(ms(config.join_timeout_s));
    impl->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, config.rank, config.size, opts);
    impl->store->setTimeout(ms(config.timeout_s));
  } catch (const GroupError&) {
    throw;
  } catch (const std::exception& e) {
    throw GroupError("group: rank " + std::to_string(config.rank) + " could not connect to the other ranks' Gloo (" +
                     host + ", group_host) within " + std::to_string(static_cast<int>(config.join_timeout_s)) +
                     " s (group_join_timeout_s): " + what_of(e));
  }
  return std::unique_ptr<ReplicaGroup>(new ReplicaGroup(std::move(impl)));
}

int ReplicaGroup::rank() const { return impl_->config.rank; }
int ReplicaGroup::size() const { return impl_->config.size; }
const GroupConfig& ReplicaGroup::config() const { return impl_->config; }

void ReplicaGroup::fail(const std::string& what) {
  broken_ = true;
  impl_->pg.reset();  // closes this rank's pairs: the others see it at once
  throw GroupError(what);
}

void ReplicaGroup::sum(std::span<float> values) { sum_of(values.data(), values.size(), true); }
void ReplicaGroup::sum(std::span<double> values) { sum_of(values.data(), values.size(), false); }

void ReplicaGroup::sum_of(void* data, size_t n, bool is_float) {
  if (broken_ || !impl_->pg) throw GroupError("group: broken earlier");
  const auto t0 = std::chrono::steady_clock::now();
  try {
    std::vector<at::Tensor> t{torch::from_blob(data, {static_cast<int64_t>(n)},
                                               torch::TensorOptions().dtype(is_float ? torch::kFloat32 : torch::kFloat64))};
    impl_->pg->allreduce(t)->wait();
  } catch (const std::exception& e) {
    fail("group: an all-reduce failed (a rank is gone or did not answer within " +
         std::to_string(static_cast<int>(impl_->config.timeout_s)) + " s): " + what_of(e));
  }
  std::lock_guard lk(impl_->times_mu);
  ++impl_->times.allreduces;
  impl_->times.allreduce_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  impl_->times.allreduce_floats += static_cast<int64_t>(n);
}

void ReplicaGroup::put(const std::string& key, const std::string& value) {
  if (broken_) throw GroupError("group: broken earlier");
  try {
    impl_->store->set(key, std::vector<uint8_t>(value.begin(), value.end()));
  } catch (const std::exception& e) {
    fail("group: the store at " + impl_->config.master + " failed (rank 0 gone?): " + what_of(e));
  }
}

std::string ReplicaGroup::get(const std::string& key) {
  if (broken_) throw GroupError("group: broken earlier");
  try {
    const auto v = impl_->store->get(key);  // waits up to the store timeout
    return std::string(v.begin(), v.end());
  } catch (const std::exception& e) {
    fail("group: waited in vain for '" + key + "' from another rank (" +
         std::to_string(static_cast<int>(impl_->config.timeout_s)) + " s): " + what_of(e));
  }
}

void ReplicaGroup::erase(const std::string& key) {
  if (broken_) throw GroupError("group: broken earlier");
  try {
    impl_->store->deleteKey(key);
  } catch (const std::exception& e) {
    fail("group: the store at " + impl_->config.master + " failed (rank 0 gone?): " + what_of(e));
  }
}

void ReplicaGroup::barrier(const std::string& name) {
  put(name + "/" + std::to_string(rank()), "1");
  for (int r = 0; r < size(); ++r) get(name + "/" + std::to_string(r));
}

void ReplicaGroup::abort() {
  broken_ = true;
  impl_->pg.reset();
}

GroupTimes ReplicaGroup::times() const {
  std::lock_guard lk(impl_->times_mu);
  return impl_->times;
}

}  // namespace tandem::algo
