"""The prediction ResNet (no torchvision import) is torchvision's ResNet, weight for weight."""


import pytest
import torch
import torchvision

from mimir.modules import resnet
from mimir.modules.backbones import names as backbone_names
from mimir.modules.network import build_network, fold_batchnorm, network_from_state
from mimir.modules.resnet import ResNet
from tests.imports import loads_module


def _trained_like(backbone: str, T: int, seed: int):
    """A torchvision network with random weights and non-trivial BatchNorm statistics."""
    torch.manual_seed(seed)
    net = build_network(backbone, T)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    return net.eval()


@pytest.mark.parametrize("backbone", sorted(n for n in backbone_names() if "resnet" in n))
def test_same_parameter_names_and_shapes_as_torchvision(backbone):
    ours = ResNet(backbone, 6).state_dict()
    reference = build_network(backbone, 3)
    assert isinstance(reference, torchvision.models.ResNet)
    theirs = reference.state_dict()
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == theirs[k].shape for k in ours)


@pytest.mark.parametrize("backbone", ["resnet18", "resnet50"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_same_outputs_as_torchvision(backbone, channels_last):
    ref = _trained_like(backbone, 2, seed=1)
    net = network_from_state(backbone, 2, ref.state_dict(), "test")
    x = torch.rand(3, 3, 128, 128) * 255
    if channels_last:
        ref = ref.to(memory_format=torch.channels_last)
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        want, got = ref(x), net(x)
        folded = fold_batchnorm(net)(x)
    scale = want.abs().max()
    assert torch.allclose(got, want, rtol=0, atol=1e-5 * scale)
    assert torch.allclose(folded, want, rtol=0, atol=1e-5 * scale)


def test_one_by_one_convolution_gives_the_same_result_at_any_batch_size_and_thread_count():
    # the oneDNN call replaces PyTorch's fallback for small batches on one thread; a
    # subject's outputs must not depend on the batch it was predicted in
    ref = _trained_like("resnet50", 2, seed=2)
    net = fold_batchnorm(network_from_state("resnet50", 2, ref.state_dict(), "test"))
    x = torch.rand(17, 3, 96, 96) * 255
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        with torch.inference_mode():
            whole = net(x)
            parts = torch.cat([net(x[:4]), net(x[4:12]), net(x[12:])])
            want = ref(x)
    finally:
        torch.set_num_threads(threads)
    assert torch.allclose(parts, whole, rtol=0, atol=1e-5 * whole.abs().max())
    assert torch.allclose(whole, want, rtol=0, atol=1e-5 * want.abs().max())


def test_gradients_and_other_dtypes_take_the_ordinary_path():
    net = ResNet("resnet18", 2)
    x = torch.rand(2, 3, 64, 64, requires_grad=True)
    net(x).sum().backward()  # the oneDNN call has no autograd formula; this must work
    assert x.grad is not None and torch.isfinite(x.grad).all()
    with torch.inference_mode():
        y = net.double()(torch.rand(1, 3, 64, 64, dtype=torch.float64))
    assert y.dtype == torch.float64


def test_predicting_does_not_import_torchvision(tmp_path):
    # the point of the separate definition: infer's start-up skips torchvision
    code = ("import torch\n"
            "from mimir.modules.network import network_from_state, fold_batchnorm\n"
            "from mimir.modules.resnet import ResNet\n"
            "sd = ResNet('resnet18', 4).state_dict()\n"
            "net = fold_batchnorm(network_from_state('resnet18', 2, sd, 'x'))\n"
            "net(torch.zeros(1, 3, 64, 64))")
    assert not loads_module(code, "torchvision")



@pytest.mark.skipif(not resnet._X86, reason="the oneDNN call is made on x86-64 only")
def test_small_single_thread_batches_use_onednn_for_every_convolution():
    from torch.profiler import profile

    net = fold_batchnorm(ResNet("resnet50", 2).eval())
    x = torch.rand(4, 3, 64, 64).contiguous(memory_format=torch.channels_last)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        with torch.inference_mode(), profile() as prof:
            net.to(memory_format=torch.channels_last)(x)
    finally:
        torch.set_num_threads(threads)
    names = [e.name for e in prof.events()]
    assert names.count("aten::mkldnn_convolution") == 53  # every convolution of a ResNet50
    assert not any("thnn" in n or "slow_conv" in n for n in names)
