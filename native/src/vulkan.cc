#include "vulkan.h"

#include <dlfcn.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace splitwatt {

namespace {

// The subset of the Vulkan 1.1 ABI used here, declared by hand (vulkan.h is not required to
// build), from the Vulkan registry (vk.xml). VKAPI_CALL is empty on Linux.
using VkResult = int32_t;
using VkInstance = struct VkInstance_T*;
using VkPhysicalDevice = struct VkPhysicalDevice_T*;
using PFN_vkVoidFunction = void (*)();
using PFN_vkGetInstanceProcAddr = PFN_vkVoidFunction (*)(VkInstance, const char*);

constexpr int32_t kStructureTypeApplicationInfo = 0;
constexpr int32_t kStructureTypeInstanceCreateInfo = 1;
constexpr int32_t kStructureTypePhysicalDeviceProperties2 = 1000059001;
constexpr int32_t kStructureTypePhysicalDeviceDriverProperties = 1000196000;
constexpr VkResult kSuccess = 0;
constexpr VkResult kIncomplete = 5;
constexpr uint32_t kApiVersion10 = 1u << 22;
constexpr uint32_t kApiVersion11 = (1u << 22) | (1u << 12);
constexpr uint32_t kApiVersion12 = (1u << 22) | (2u << 12);

struct VkApplicationInfo {
  int32_t sType;
  const void* pNext;
  const char* pApplicationName;
  uint32_t applicationVersion;
  const char* pEngineName;
  uint32_t engineVersion;
  uint32_t apiVersion;
};

struct VkInstanceCreateInfo {
  int32_t sType;
  const void* pNext;
  uint32_t flags;
  const VkApplicationInfo* pApplicationInfo;
  uint32_t enabledLayerCount;
  const char* const* ppEnabledLayerNames;
  uint32_t enabledExtensionCount;
  const char* const* ppEnabledExtensionNames;
};

// VkPhysicalDeviceProperties: only its head is read. The whole struct (with VkPhysicalDeviceLimits
// and the sparse properties) is 824 bytes on LP64; the driver writes it into a larger buffer.
struct VkPhysicalDevicePropertiesHead {
  uint32_t apiVersion;
  uint32_t driverVersion;
  uint32_t vendorID;
  uint32_t deviceID;
  int32_t deviceType;
  char deviceName[256];
  uint8_t pipelineCacheUUID[16];
};

struct alignas(8) PropertiesRoom {
  unsigned char bytes[2048];
};

struct VkPhysicalDeviceProperties2 {
  int32_t sType;
  void* pNext;
  PropertiesRoom properties;
};

struct VkPhysicalDeviceDriverProperties {
  int32_t sType;
  void* pNext;
  uint32_t driverID;
  char driverName[256];
  char driverInfo[256];
  uint8_t conformanceVersion[4];
};

static_assert(offsetof(VkPhysicalDevicePropertiesHead, deviceName) == 20, "VkPhysicalDeviceProperties layout");
static_assert(offsetof(VkPhysicalDeviceProperties2, properties) == 16, "VkPhysicalDeviceProperties2 layout");
static_assert(offsetof(VkPhysicalDeviceDriverProperties, driverName) == 20, "VkPhysicalDeviceDriverProperties layout");
static_assert(offsetof(VkPhysicalDeviceDriverProperties, driverInfo) == 276, "VkPhysicalDeviceDriverProperties layout");
static_assert(sizeof(VkPhysicalDeviceDriverProperties) == 536, "VkPhysicalDeviceDriverProperties size");

using PFN_vkEnumerateInstanceVersion = VkResult (*)(uint32_t*);
using PFN_vkCreateInstance = VkResult (*)(const VkInstanceCreateInfo*, const void*, VkInstance*);
using PFN_vkDestroyInstance = void (*)(VkInstance, const void*);
using PFN_vkEnumeratePhysicalDevices = VkResult (*)(VkInstance, uint32_t*, VkPhysicalDevice*);
using PFN_vkGetPhysicalDeviceProperties = void (*)(VkPhysicalDevice, void*);
using PFN_vkGetPhysicalDeviceProperties2 = void (*)(VkPhysicalDevice, VkPhysicalDeviceProperties2*);

struct DeviceInfo {
  uint32_t apiVersion = 0;
  uint32_t driverVersion = 0;
  uint32_t vendorId = 0;
  uint32_t deviceId = 0;
  int32_t deviceType = 0;
  std::string deviceName;
  bool hasDriver = false;
  uint32_t driverId = 0;
  std::string driverName;
  std::string driverInfo;
};

std::string Bounded(const char* s, size_t max) { return std::string(s, strnlen(s, max)); }

/** dlclose on scope exit. */
class Library {
 public:
  explicit Library(void* handle) : handle_(handle) {}
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;
  ~Library() {
    if (handle_ != nullptr) ::dlclose(handle_);
  }
  void* get() const { return handle_; }

 private:
  void* handle_;
};

class PhysicalDevicesWorker : public PromiseWorker {
 public:
  PhysicalDevicesWorker(Napi::Env env, std::string libPath)
      : PromiseWorker(env, "splitwatt:Vulkan.physicalDevices"), libPath_(std::move(libPath)) {}

 protected:
  void Execute() override {
    Library lib(::dlopen(libPath_.c_str(), RTLD_NOW | RTLD_LOCAL));
    if (lib.get() == nullptr) {
      const char* why = ::dlerror();
      IoFailure f = IoFailure::Errno(ENOENT, "dlopen", libPath_);
      f.message = std::string("ENOENT: cannot load the Vulkan loader, dlopen '") + libPath_ + "': " + (why != nullptr ? why : "unknown error");
      Fail(std::move(f));
      return;
    }
    auto gipa = reinterpret_cast<PFN_vkGetInstanceProcAddr>(::dlsym(lib.get(), "vkGetInstanceProcAddr"));
    if (gipa == nullptr) {
      IoFailure f = IoFailure::Errno(ENOSYS, "dlsym", libPath_);
      f.message = std::string("ENOSYS: ") + libPath_ + " has no vkGetInstanceProcAddr (not a Vulkan loader)";
      Fail(std::move(f));
      return;
    }
    auto enumerateVersion = reinterpret_cast<PFN_vkEnumerateInstanceVersion>(gipa(nullptr, "vkEnumerateInstanceVersion"));
    loaderApiVersion_ = kApiVersion10;
    if (enumerateVersion != nullptr && enumerateVersion(&loaderApiVersion_) != kSuccess) loaderApiVersion_ = kApiVersion10;
    const bool v11 = loaderApiVersion_ >= kApiVersion11;

    auto createInstance = reinterpret_cast<PFN_vkCreateInstance>(gipa(nullptr, "vkCreateInstance"));
    if (createInstance == nullptr) {
      createResult_ = -3;  // VK_ERROR_INITIALIZATION_FAILED
      return;
    }
    VkApplicationInfo app{};
    app.sType = kStructureTypeApplicationInfo;
    app.pApplicationName = "splitwatt";
    app.pEngineName = "splitwatt";
    // 1.2 where the loader has it: VkPhysicalDeviceDriverProperties is core in 1.2
    app.apiVersion = loaderApiVersion_ >= kApiVersion12 ? kApiVersion12 : v11 ? kApiVersion11 : kApiVersion10;
    VkInstanceCreateInfo create{};
    create.sType = kStructureTypeInstanceCreateInfo;
    create.pApplicationInfo = &app;
    VkInstance instance = nullptr;
    createResult_ = createInstance(&create, nullptr, &instance);
    if (createResult_ != kSuccess || instance == nullptr) return;

    auto destroyInstance = reinterpret_cast<PFN_vkDestroyInstance>(gipa(instance, "vkDestroyInstance"));
    auto enumerateDevices = reinterpret_cast<PFN_vkEnumeratePhysicalDevices>(gipa(instance, "vkEnumeratePhysicalDevices"));
    auto getProperties = reinterpret_cast<PFN_vkGetPhysicalDeviceProperties>(gipa(instance, "vkGetPhysicalDeviceProperties"));
    auto getProperties2 = v11 ? reinterpret_cast<PFN_vkGetPhysicalDeviceProperties2>(gipa(instance, "vkGetPhysicalDeviceProperties2")) : nullptr;
    if (enumerateDevices != nullptr && getProperties != nullptr) {
      uint32_t count = 0;
      VkResult r = enumerateDevices(instance, &count, nullptr);
      std::vector<VkPhysicalDevice> handles(count);
      if (r == kSuccess && count > 0) r = enumerateDevices(instance, &count, handles.data());
      if (r == kSuccess || r == kIncomplete) {
        handles.resize(count);
        for (VkPhysicalDevice pd : handles) devices_.push_back(Describe(pd, getProperties, getProperties2));
      } else {
        createResult_ = r;
      }
    }
    if (destroyInstance != nullptr) destroyInstance(instance, nullptr);
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object out = Napi::Object::New(env);
    out.Set("loaderApiVersion", Napi::Number::New(env, loaderApiVersion_));
    out.Set("createResult", Napi::Number::New(env, createResult_));
    Napi::Array arr = Napi::Array::New(env, devices_.size());
    for (size_t i = 0; i < devices_.size(); ++i) {
      const DeviceInfo& d = devices_[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("apiVersion", Napi::Number::New(env, d.apiVersion));
      o.Set("driverVersion", Napi::Number::New(env, d.driverVersion));
      o.Set("vendorId", Napi::Number::New(env, d.vendorId));
      o.Set("deviceId", Napi::Number::New(env, d.deviceId));
      o.Set("deviceType", Napi::Number::New(env, d.deviceType));
      o.Set("deviceName", Napi::String::New(env, d.deviceName));
      o.Set("driverId", d.hasDriver ? Napi::Value(Napi::Number::New(env, d.driverId)) : env.Null());
      o.Set("driverName", d.hasDriver ? Napi::Value(Napi::String::New(env, d.driverName)) : env.Null());
      o.Set("driverInfo", d.hasDriver ? Napi::Value(Napi::String::New(env, d.driverInfo)) : env.Null());
      arr.Set(static_cast<uint32_t>(i), o);
    }
    out.Set("devices", arr);
    return out;
  }

 private:
  DeviceInfo Describe(VkPhysicalDevice pd, PFN_vkGetPhysicalDeviceProperties getProperties, PFN_vkGetPhysicalDeviceProperties2 getProperties2) const {
    DeviceInfo d;
    PropertiesRoom room{};
    getProperties(pd, room.bytes);
    VkPhysicalDevicePropertiesHead head;
    std::memcpy(&head, room.bytes, sizeof(head));
    d.apiVersion = head.apiVersion;
    d.driverVersion = head.driverVersion;
    d.vendorId = head.vendorID;
    d.deviceId = head.deviceID;
    d.deviceType = head.deviceType;
    d.deviceName = Bounded(head.deviceName, sizeof(head.deviceName));
    // VkPhysicalDeviceDriverProperties is core in 1.2 (VK_KHR_driver_properties before): ask only
    // when both the instance and the device speak 1.2.
    if (getProperties2 != nullptr && loaderApiVersion_ >= kApiVersion12 && head.apiVersion >= kApiVersion12) {
      VkPhysicalDeviceDriverProperties driver{};
      driver.sType = kStructureTypePhysicalDeviceDriverProperties;
      VkPhysicalDeviceProperties2 props2{};
      props2.sType = kStructureTypePhysicalDeviceProperties2;
      props2.pNext = &driver;
      getProperties2(pd, &props2);
      d.hasDriver = true;
      d.driverId = driver.driverID;
      d.driverName = Bounded(driver.driverName, sizeof(driver.driverName));
      d.driverInfo = Bounded(driver.driverInfo, sizeof(driver.driverInfo));
    }
    return d;
  }

  std::string libPath_;
  uint32_t loaderApiVersion_ = 0;
  VkResult createResult_ = 0;
  std::vector<DeviceInfo> devices_;
};

}  // namespace

Napi::Function Vulkan::Define(Napi::Env env) {
  return DefineClass(env, "Vulkan", {InstanceMethod<&Vulkan::PhysicalDevices>("physicalDevices")});
}

Vulkan::Vulkan(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Vulkan>(info) {}

Napi::Value Vulkan::PhysicalDevices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    const std::string libPath = ArgString(info, 0, "Vulkan.physicalDevices: libPath");
    auto* worker = new PhysicalDevicesWorker(env, libPath);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  });
}

}  // namespace splitwatt
