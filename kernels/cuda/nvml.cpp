#include "kernels/cuda/nvml.hpp"

#include <dlfcn.h>

namespace costcurve::cuda {

// NVML's ABI: nvmlReturn_t is an int enum (0 = success), nvmlDevice_t an opaque pointer, clock
// types SM = 1 and MEM = 2, temperature sensor GPU = 0.
struct Nvml::Api {
  int (*init)() = nullptr;
  int (*shutdown)() = nullptr;
  int (*by_pci)(const char*, void**) = nullptr;
  int (*clock)(void*, int, unsigned*) = nullptr;
  int (*temperature)(void*, int, unsigned*) = nullptr;
  int (*power)(void*, unsigned*) = nullptr;
  int (*throttle)(void*, unsigned long long*) = nullptr;
  int (*driver)(char*, unsigned) = nullptr;
};

namespace {
template <class F>
void bind(void* lib, const char* name, F& f) {
  f = reinterpret_cast<F>(dlsym(lib, name));
}
}  // namespace

Nvml::Nvml(const std::string& pci_bus_id) {
  lib_ = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib_) return;
  api_ = new Api;
  bind(lib_, "nvmlInit_v2", api_->init);
  bind(lib_, "nvmlShutdown", api_->shutdown);
  bind(lib_, "nvmlDeviceGetHandleByPciBusId_v2", api_->by_pci);
  bind(lib_, "nvmlDeviceGetClockInfo", api_->clock);
  bind(lib_, "nvmlDeviceGetTemperature", api_->temperature);
  bind(lib_, "nvmlDeviceGetPowerUsage", api_->power);
  bind(lib_, "nvmlDeviceGetCurrentClocksThrottleReasons", api_->throttle);
  bind(lib_, "nvmlSystemGetDriverVersion", api_->driver);
  if (!api_->init || !api_->by_pci || api_->init() != 0) return;
  void* dev = nullptr;
  if (api_->by_pci(pci_bus_id.c_str(), &dev) == 0) device_ = dev;
}

Nvml::~Nvml() {
  if (api_ && api_->shutdown && device_) api_->shutdown();
  delete api_;
  if (lib_) dlclose(lib_);
}

std::string Nvml::driver_version() const {
  char buf[96] = {};
  if (!api_ || !api_->driver || api_->driver(buf, sizeof buf) != 0) return "";
  return buf;
}

DeviceState Nvml::read() const {
  DeviceState s;
  if (!ok()) return s;
  unsigned v = 0;
  if (api_->clock && api_->clock(device_, 1, &v) == 0) s.emplace_back("sm_clock_mhz", v);
  if (api_->clock && api_->clock(device_, 2, &v) == 0) s.emplace_back("mem_clock_mhz", v);
  if (api_->temperature && api_->temperature(device_, 0, &v) == 0)
    s.emplace_back("temperature_c", v);
  if (api_->power && api_->power(device_, &v) == 0) s.emplace_back("power_w", v / 1000.0);
  unsigned long long reasons = 0;
  if (api_->throttle && api_->throttle(device_, &reasons) == 0)
    s.emplace_back("throttle_reasons", static_cast<double>(reasons));
  return s;
}

}  // namespace costcurve::cuda
