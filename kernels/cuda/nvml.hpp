// Clocks, temperature, power and the driver version through NVML, loaded at run time: the toolkit
// here ships no NVML header or stub, and a machine without the driver must still run the CPU
// backend. Only the few entry points we read are declared, with their documented C signatures.
#pragma once

#include <string>

#include "kernels/backend.hpp"

namespace costcurve::cuda {

class Nvml {
public:
  // pci_bus_id as cudaDeviceGetPCIBusId writes it; NVML and CUDA may number devices differently.
  explicit Nvml(const std::string& pci_bus_id);
  ~Nvml();
  Nvml(const Nvml&) = delete;
  Nvml& operator=(const Nvml&) = delete;

  bool ok() const { return device_ != nullptr; }
  std::string driver_version() const;
  // sm_clock_mhz, mem_clock_mhz, temperature_c, power_w, throttle_reasons (NVML bit mask).
  DeviceState read() const;

private:
  void* lib_ = nullptr;
  void* device_ = nullptr;
  struct Api;
  Api* api_ = nullptr;
};

}  // namespace costcurve::cuda
