{
  "variables": {
    "msae_blas%": "<!(node native/detect-blas.mjs)"
  },
  "targets": [
    {
      "target_name": "msae_native",
      "sources": ["<!@(node -e \"console.log(require('fs').readdirSync('native/src/kernels').filter(f=>f.endsWith('.cc')).map(f=>'native/src/kernels/'+f).join(' '))\")", "native/src/binding.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native/src"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "MSAE_BLAS_NAME=\"<(msae_blas)\""],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-Wall", "-Wno-unused-function"],
      "ldflags": ["-fopenmp"],
      "conditions": [
        ["msae_blas=='openblas'", {
          "defines": ["MSAE_HAVE_CBLAS=1"],
          "include_dirs": ["/usr/include/x86_64-linux-gnu", "/usr/include/openblas"],
          "libraries": ["-lopenblas"]
        }],
        ["msae_blas=='accelerate'", {
          "defines": ["MSAE_HAVE_CBLAS=1", "MSAE_ACCELERATE=1", "ACCELERATE_NEW_LAPACK=1"],
          "libraries": ["-framework Accelerate"]
        }],
        ["OS=='mac'", {
          "xcode_settings": {
            "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "OTHER_CPLUSPLUSFLAGS": ["-O3", "-march=native"]
          }
        }]
      ]
    }
  ]
}
