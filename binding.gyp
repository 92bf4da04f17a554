{
  "targets": [
    {
      "target_name": "nodeformers",
      "sources": [
        "native/addon/args.cc", "native/addon/attention.cc", "native/addon/backward.cc", "native/addon/device.cc", "native/addon/errors.cc",
        "native/addon/module.cc", "native/addon/ops.cc", "native/addon/optimizer.cc", "native/addon/plans.cc", "native/addon/random.cc",
        "native/addon/storage.cc", "native/addon/tensor_lists.cc",
        "native/core/attention_plans.cc", "native/core/attention_ranges.cc", "native/core/contracts.cc", "native/core/dispatch.cc", "native/core/sparse_plan.cc",
        "native/core/optimizer_contracts.cc", "native/cpu/optimizer.cc", "native/cpu/attention_backward.cc", "native/cpu/attention_simd.cc", "native/cpu/activation_simd.cc", "native/cpu/norm_simd.cc", "native/cpu/elementwise_fast.cc",
        "native/cpu/backward.cc", "native/cpu/cpu_backend.cc", "native/cpu/queued_backend.cc", "native/cpu/cpu_stream.cc", "native/cpu/host_cache.cc", "native/cpu/random_ops.cc",
        "native/addon/training.cc", "native/core/training_contracts.cc", "native/cpu/training.cc",
        "native/addon/user_kernels.cc", "native/core/nvrtc.cc",
        "native/addon/mixing.cc", "native/core/mixing_contracts.cc", "native/core/mixing_dispatch.cc", "native/cpu/mixing.cc", "native/cpu/fft.cc",
        "native/addon/cpu.cc", "native/cpu/thread_pool.cc", "native/cpu/gemm.cc", "native/cpu/gemm_kernels.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "conditions": [["OS=='linux'", { "libraries": ["-ldl"] }]],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++1y", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O3", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "MACOSX_DEPLOYMENT_TARGET": "11.0"
      },
      "msvs_settings": { "VCCLCompilerTool": { "ExceptionHandling": 1, "AdditionalOptions": ["/std:c++17"] } }
    }
  ]
}
