"""The mock-interview question bank: fine-tuning open-weight models without losing what they know.

Each :class:`Question` holds the question in Chinese (``zh``) and English (``en``), a short model answer in
Markdown (``answer``) that says what the workbook measured, the notebook section that proves it (``link``,
``"NN_name.ipynb#Anchor"``, the anchor being the Markdown heading with spaces replaced by "-") and a ``topic``:

    q1, q2, q3        the source article's three questions and their follow-ups (notebooks 01, 02, 03)
    tf-hub            loading open-weight models with TF Hub, Keras 2 vs Keras 3, tensorflow_text (00, 04)
    forgetting        what catastrophic forgetting is and what it looks like (02)
    methods           LP-FT, EWC, L2-SP, LwF, rehearsal, WiSE-FT (02)
    peft              LoRA and parameter-efficient fine-tuning (01, 02, 04)
    compute           parameters and training memory, full fine-tuning vs LoRA (01)
    hyperparameters   learning rate, epochs, regularisation strength, BatchNorm (01, 02, 03)
    evaluation        how to measure forgetting: old head, linear probe, retention, both tasks (02, 03, 04)
    text              the sentence encoder all-MiniLM-L6-v2 (04)

The answers hold no measured numbers: a number in prose is a claim, and measured numbers are never typed (they
go stale whenever a model or the protocol is rebuilt). An answer states each finding qualitatively and names the
notebook section that measures it, where a check cell holds the claim; the numbers themselves are printed by the
executed notebooks (``build/notebooks/``) and ``build/REPORT.md``. What the answers do spell out is not measured:
formulas and what they give (16 bytes per parameter for mixed-precision Adam, r·(m + n) for LoRA, parameter
counts of the bundled model), settings (``λ=0.1``, ``α=0.5``, rank 16, learning rate 3e-3) and numbers that a
cited paper reports. ``tests/test_interview_bank.py`` fails when an accuracy-like decimal or a timing is typed
into an answer.

Notebook 05 (``05_mock_interview.ipynb``) uses the bank like this::

    from IPython.display import Markdown, display
    from utils import interview

    assert interview.broken_links() == []          # every link names an existing notebook section
    for q in interview.draw(k=3, seed=0):           # a mock interview: three questions, answers collapsed
        display(Markdown(interview.as_markdown(q)))
    for q in interview.draw(k=2, topic="peft"):     # drill one topic
        display(Markdown(interview.as_markdown(q, reveal=True)))

Pure Python: importing this module does not import TensorFlow.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from . import paths

__all__ = ["Question", "QUESTIONS", "TOPICS", "anchor", "headings", "broken_links", "draw", "as_markdown", "get",
           "topics"]

N00 = "00_start_here.ipynb"
N01 = "01_finetuning_challenges.ipynb"
N02 = "02_capability_degradation.ipynb"
N03 = "03_coding_exercise.ipynb"
N04 = "04_text_models.ipynb"


@dataclass(frozen=True)
class Question:
    """One interview question: Chinese and English wording, a model answer and the section that proves it."""

    id: str
    zh: str
    en: str
    answer: str
    link: str
    topic: str = ""


QUESTIONS: list[Question] = [
    # ---------------------------------------------------------------- the article's three questions
    Question(
        id="q1-problems",
        topic="q1",
        zh="在使用开源权重模型进行微调时，可能会遇到哪些问题？",
        en="What problems can you run into when you fine-tune an open-weight model?",
        answer=(
            "Name each problem with how you *detect* it. **Data mismatch**: on a 2-pixel translation the deployed "
            "head falls to about chance while a linear head re-fitted on the same frozen features still reads the "
            "digits well (notebook 01, section 1). **Overfitting**: with 1% of the labels the model memorises them — "
            "a wide train/held-out gap that more labels close far better than any regulariser (section 2). "
            "**Compute**: ~16 bytes of training state per parameter, 107.2 GB for a 7B model by that formula "
            "(section 3). **Hyperparameters**: no cell of the learning-rate × epochs grid both learns task B and "
            "keeps task A (section 4) — and the one the article misses, **forgetting**: full fine-tuning loses about "
            "half of task A on average (notebook 02, Evidence 3)."
        ),
        link=f"{N01}#The-question",
    ),
    Question(
        id="q2-fixes",
        topic="q2",
        zh="开源权重模型在微调过程中出现能力退化时，有哪些方法可以解决？",
        en="After fine-tuning, an open-weight model has lost capabilities it had before. What can you do about it?",
        answer=(
            "Forgetting happens because fine-tuning moves shared weights for task B and nothing in the loss measures "
            "task A. Three families fix it: keep the **weights** near the pretrained ones (frozen backbone, LP-FT, "
            "L2-SP, EWC, WiSE-FT), keep the old **function** (LwF distillation), or keep **training on the old "
            "task** (rehearsal). Notebook 02 measures them on one protocol: full fine-tuning loses a large share of "
            "task A; **rehearsal** at 50% of each combined batch, on a longer, faster schedule chosen on the "
            "validation split, keeps task A within 1 point of the pretrained model and task B within 1 point of full "
            "fine-tuning; the best data-free fix, chosen on validation, is **LP-FT + LwF**. Measure both tasks, "
            "choose on a validation split, report test, and pick from the Pareto frontier."
        ),
        link=f"{N02}#The-question",
    ),
    Question(
        id="q3-script",
        topic="q3",
        zh=("编写一个Python脚本，用于微调一个开源权重模型，并实现以下功能：1. 加载一个开源权重模型。"
            "2. 对模型进行数据预处理。3. 应用正则化技术。4. 进行模型训练和验证。5. 输出训练和验证结果。"),
        en=("Write a Python script that fine-tunes an open-weight model: load it, preprocess the data, apply a "
            "regulariser, train and validate, and report the training and validation results."),
        answer=(
            "1) `hub.KerasLayer(handle, trainable=True)` and check the input signature; 2) preprocess to that "
            "signature (digit counts 0..16 → float32 `[N, 8, 8, 1]` in [0, 1]); 3) **L2-SP**, a pull toward the "
            "*pretrained* weights, not dropout; 4) Adam on a new head, validating **both** tasks on a validation "
            "split every epoch (old head on task A), the test split read once at the end; 5) a before/after table, "
            "`results.json`, `history.csv`, checkpoints. Notebook 03's check cells require the recorded run to learn "
            "task B while keeping most of task A, and `python -m utils.finetune_cli --schedule constant` to reproduce "
            "the hand-written loop up to floating-point order."
        ),
        link=f"{N03}#The-question",
    ),
    # ---------------------------------------------------------------- TF Hub, Keras 2 vs Keras 3
    Question(
        id="hub-predict",
        topic="tf-hub",
        zh="文章的示例代码用 `hub.load(...)` 加载模型后调用 `model.predict(image)`，这段代码能运行吗？问题在哪里？",
        en=("The article loads a model with `hub.load(...)` and calls `model.predict(image)`. Does it run? What "
            "is wrong?"),
        answer=(
            "It fails: `hub.load` returns the restored SavedModel object (`_UserObject`), which has no `.predict` — "
            "notebook 00 shows the `AttributeError`. Call it instead (`model(x)`; on the bundled model it returns "
            "features of shape (5, 64)) or wrap it in `hub.KerasLayer`. A *feature-vector* model outputs "
            "features, not classes, so you need a head on top; and the article's text handles are not models that "
            "could be found in the TF Hub / Kaggle catalogue."
        ),
        link=f"{N00}#Evidence-1-—-hub.load-gives-a-SavedModel-object-without-.predict",
    ),
    Question(
        id="hub-load-vs-keraslayer",
        topic="tf-hub",
        zh="`hub.load` 和 `hub.KerasLayer` 有什么区别？各自在什么场景下使用？",
        en="What is the difference between `hub.load` and `hub.KerasLayer`, and when do you use each?",
        answer=(
            "`hub.load` restores the SavedModel object: you call it or its signatures, for inference. "
            "`hub.KerasLayer` wraps it as a Keras (tf_keras) layer with a `trainable` flag, regularisation losses "
            "and `fit`/`predict`, so it can be fine-tuned inside a model. Notebook 00 builds `Sequential([Input((8, "
            "8, 1)), KerasLayer, Dense head])`, which reads task A well: Evidence 2 measures its task-A test "
            "accuracy."
        ),
        link=f"{N00}#Evidence-2-—-the-right-way:-hub.KerasLayer-inside-a-tf_keras-model",
    ),
    Question(
        id="hub-trainable",
        topic="tf-hub",
        zh="`hub.KerasLayer(..., trainable=True)` 改变了什么？它和能力退化有什么关系？",
        en="What does `trainable=True` on a `hub.KerasLayer` change, and what does it have to do with forgetting?",
        answer=(
            "A frozen hub layer exposes no trainable variables, so the optimizer cannot touch the backbone; with "
            "`trainable=True` its 8 variables (158,272 parameters on the bundled model) join the model's trainable "
            "variables. That is what lets fine-tuning adapt the features — and what lets it forget. Use a small "
            "learning rate and one of notebook 02's methods."
        ),
        link=f"{N00}#Evidence-3-—-trainable-decides-whether-fine-tuning-can-change-the-backbone",
    ),
    Question(
        id="keras3-pitfall",
        topic="tf-hub",
        zh="在 TensorFlow 2.16 及以上版本中，把 `hub.KerasLayer` 放进 `tf.keras.Sequential` 会报错，为什么？怎么解决？",
        en=("With TensorFlow ≥ 2.16, putting a `hub.KerasLayer` into `tf.keras.Sequential` fails. Why, and what "
            "is the fix?"),
        answer=(
            "Since TF 2.16 `tf.keras` is Keras 3, and a hub layer is a Keras 2 layer: Keras 3 rejects it with "
            "``Only instances of `keras.Layer` can be added to a Sequential model`` (in the functional API: "
            "``A KerasTensor is symbolic ...``), as notebook 00 reproduces. Fix: `pip install tf-keras` matching "
            "your TensorFlow, set `TF_USE_LEGACY_KERAS=1` **before** importing TensorFlow, and build models with "
            "`import tf_keras as keras`."
        ),
        link=f"{N00}#Evidence-4-—-the-Keras-3-pitfall,-with-the-real-error",
    ),
    Question(
        id="hub-text-ops",
        topic="tf-hub",
        zh="加载 TF-Hub 文本预处理模型时出现 `Op type not registered 'NormalizeUTF8'`，是什么原因？",
        en="Loading a TF-Hub text preprocessor fails with `Op type not registered 'NormalizeUTF8'`. What is the cause?",
        answer=(
            "A TF-Hub text model ships as two SavedModels: a **preprocessor** (strings → token ids, built with "
            "tensorflow_text ops) and an **encoder** (ids → embeddings). Those ops are registered only once "
            "`tensorflow_text` is imported, so import it before loading (`utils.hub.load` does). Pin "
            "tensorflow-text to TensorFlow's version line (here 2.21.1 with 2.21.0), otherwise the import itself "
            "fails with an `undefined symbol` error."
        ),
        link=f"{N04}#1-·-The-article's-example,-corrected",
    ),
    Question(
        id="hub-offline",
        topic="tf-hub",
        zh="在没有网络的环境（如内网服务器、CI）中，如何使用 tfhub.dev 上的模型？",
        en="How do you use a tfhub.dev model on a machine without network access (an air-gapped server, CI)?",
        answer=(
            "Point `TFHUB_CACHE_DIR` at a cache that already holds the model, or download it elsewhere and load "
            "the local SavedModel folder (the one with `saved_model.pb`). Fail fast and clearly: notebook 00 shows "
            "the workbook's loader refusing an offline handle, a folder that is not a SavedModel and a wrong input "
            "shape before any training, each message naming the fix. An interrupted download leaves an empty "
            "`tfhub_modules/<hash>` folder: delete it and retry."
        ),
        link=f"{N00}#Evidence-6-—-errors-that-say-what-to-do",
    ),
    # ---------------------------------------------------------------- question 1 follow-ups
    Question(
        id="data-mismatch",
        topic="q1",
        zh="如何在微调之前发现数据分布不匹配？",
        en="How do you detect a data mismatch before you fine-tune?",
        answer=(
            "Fit a **linear probe** on the frozen features of your data and compare it with the model's own domain, "
            "and check the deployed head too. Notebook 01, section 1: the re-fitted linear head loses accuracy as "
            "the noise or the translation grows, some under a 2-pixel translation or a rotation and most under a "
            "pixel permutation — it degrades, it does not collapse — while the original head falls to about chance "
            "on those same shifts. A PCA of the features shows the class clusters merging on the permuted digits; "
            "the section measures the class separation of both projections."
        ),
        link=f"{N01}#1-·-Data-mismatch",
    ),
    Question(
        id="head-collapse",
        topic="q1",
        zh="图像只平移了 2 个像素，原始分类头的准确率就掉到随机水平，但重新拟合的线性头仍有 0.90，为什么？",
        en="A 2-pixel shift drops the original head to chance, yet a re-fitted linear head still gets 0.90. Why?",
        answer=(
            "The head is a fixed linear read-out of specific feature directions; the shift moves the features off "
            "those directions, but most of the class information is still there. Notebook 01, section 1 measures "
            "both on the same frozen features: the original head near chance, a new linear head still far above it. "
            "Lesson: a deployed model can fail abruptly while the representation degrades gracefully — evaluate "
            "both."
        ),
        link=f"{N01}#1-·-Data-mismatch",
    ),
    Question(
        id="small-data-overfitting",
        topic="q1",
        zh="只有很少的标注数据时微调会怎样？Dropout、权重衰减、数据增强、早停能解决吗？",
        en=("What happens when you fine-tune on very few labels? Do dropout, weight decay, augmentation or early "
            "stopping fix it?"),
        answer=(
            "The model memorises: with 10 labels (1%) it gets its training examples right and does far worse on "
            "held-out data, and the gap narrows with every step up in labels (notebook 01, section 2). On the 1% "
            "set, dropout on the features and weight decay barely move the train/held-out gap — their effect is "
            "small and changes sign from seed to seed — augmentation hurts, and early stopping, which needs a "
            "validation split it cannot afford (here carved from 5% of the labels), stops on noise. More labels "
            "close most of the gap, far more than any regulariser."
        ),
        link=f"{N01}#2-·-Overfitting-on-small-data",
    ),
    Question(
        id="augmentation",
        topic="q1",
        zh="数据增强一定有帮助吗？它能防止能力退化吗？",
        en="Does data augmentation always help? Does it prevent capability degradation?",
        answer=(
            "Only if it preserves the labels: shifting a *permuted* image is not a label-preserving change, so in "
            "notebook 01 augmentation lowered held-out accuracy. And it never protects the old task — it makes the "
            "*new* data more varied: in notebook 02's full run it still loses a large share of task A (Evidence 3), "
            "and in notebook 04 token dropout keeps about as little of the similarity geometry as full fine-tuning."
        ),
        link=f"{N01}#2-·-Overfitting-on-small-data",
    ),
    # ---------------------------------------------------------------- compute
    Question(
        id="memory-7b",
        topic="compute",
        zh="全量微调一个 7B 参数的模型大约需要多少显存？用 LoRA 能省下多少？",
        en="Roughly how much accelerator memory does full fine-tuning of a 7B model need, and how much does LoRA save?",
        answer=(
            "Mixed-precision Adam keeps ~16 bytes per trained parameter: bf16 weights (2) + gradients (2) + fp32 "
            "master copy (4) + two Adam moments (8). For 6.7B parameters that is 107.2 GB of training state — more "
            "than one 80 GB card. LoRA (rank 8 on the query and value projections) trains r·(m + n) per adapted "
            "kernel, 4,194,304 parameters here, and keeps the frozen weights at 2 bytes: 13.5 GB by the same formula "
            "(notebook 01, section 3). Activations are **not** reduced: back-propagation must still reach the "
            "adapters inside every layer."
        ),
        link=f"{N01}#3-·-Compute-limits",
    ),
    Question(
        id="count-parameters",
        topic="compute",
        zh="如何计算全量微调、冻结骨干网络和 LoRA 各自的可训练参数量？训练速度会按比例提升吗？",
        en=("How do you count the trainable parameters of full fine-tuning, a frozen backbone and LoRA? Is "
            "training faster in proportion?"),
        answer=(
            "Conv: k·k·c_in·c_out + c_out; dense: n_in·n_out + n_out; LoRA: r·(m + n) per adapted m×n kernel. On the "
            "bundled model: 158,922 (full), 650 (frozen, the head only) and 6,026 (LoRA r=4 on the two dense "
            "kernels), and Adam keeps 8 bytes per trained parameter; notebook 01 checks every count against these "
            "formulas. The step time does not shrink in proportion — section 3 prints the milliseconds per step of "
            "each — because the backward pass still runs through the whole network."
        ),
        link=f"{N01}#3-·-Compute-limits",
    ),
    # ---------------------------------------------------------------- hyperparameters
    Question(
        id="learning-rate-grid",
        topic="hyperparameters",
        zh="学习率和训练轮数怎么选？只靠调参能避免遗忘吗？",
        en="How do you choose the learning rate and the number of epochs? Can tuning alone avoid forgetting?",
        answer=(
            "No. Notebook 01's learning-rate × epochs grid of full fine-tuning (section 4): the cell that learns "
            "task B best gives up a clear part of task A, the cell that keeps task A best barely learns task B, and "
            "no cell does both. A lower learning rate slows learning and forgetting alike — it moves you along the "
            "trade-off, which is why the methods of notebook 02 exist. Choose on a validation split carved from the "
            "training data, looking at both tasks; the test split is only reported. (The grid uses a constant rate "
            "so that epoch k is what a k-epoch run would be; notebook 02's protocol is Adam 3e-3 with cosine decay, "
            "batch 32, 10 epochs.)"
        ),
        link=f"{N01}#4-·-Hyperparameters-are-hard",
    ),
    Question(
        id="discriminative-lr",
        topic="hyperparameters",
        zh="为什么骨干网络的学习率通常要比新分类头的学习率低？",
        en="Why should the backbone get a lower learning rate than the new head?",
        answer=(
            "The head starts random and must move far; the backbone is already good, and the large, arbitrary "
            "gradients a random head sends into it distort the features. Notebook 02's Evidence 1 shows when: much "
            "of the task A that full fine-tuning loses is already gone after the first epoch (the cell prints how "
            "much). Discriminative learning rates, or training the head first (LP-FT), address exactly that."
        ),
        link=f"{N02}#Evidence-1-—-forgetting-happens,-epoch-by-epoch",
    ),
    Question(
        id="batchnorm",
        topic="hyperparameters",
        zh="微调时为什么要让 BatchNorm 层保持推理模式？",
        en="Why keep BatchNorm layers in inference mode when fine-tuning?",
        answer=(
            "Their moving statistics would be overwritten by small, differently distributed fine-tuning batches, "
            "which silently changes the pretrained function even at a low learning rate. In Keras a "
            "`BatchNormalization` layer with `trainable=False` runs in inference mode. The bundled model has no "
            "BatchNorm for this reason, so weight penalties see every change."
        ),
        link=f"{N01}#Follow-up-questions-interviewers-ask",
    ),
    Question(
        id="regulariser-strength",
        topic="hyperparameters",
        zh="L2-SP 或 EWC 的正则化强度 λ 应该怎么选？",
        en="How do you choose the regularisation strength λ of L2-SP or EWC?",
        answer=(
            "Sweep it on a validation split carved from the training data and pick from the Pareto front of new-task "
            "accuracy vs old-task retention on that split — never from the new task alone, never on the test split. "
            "Notebook 02's Evidence 3 runs L2-SP at λ=0.01 and λ=0.1 and EWC at λ=0.1 and λ=0.3, every number with a "
            "validation twin: each strength is a different point on the trade-off, not a free win. EWC's λ is only "
            "meaningful if the Fisher is normalised (here to mean 1): the raw empirical Fisher of a well-fit model "
            "is tiny."
        ),
        link=f"{N02}#Evidence-3-—-every-method-on-permute",
    ),
    # ---------------------------------------------------------------- forgetting
    Question(
        id="catastrophic-forgetting",
        topic="forgetting",
        zh="什么是灾难性遗忘？为什么微调会让模型丢失原有能力？",
        en="What is catastrophic forgetting, and why does fine-tuning make a model lose what it could do?",
        answer=(
            "Fine-tuning moves the shared weights to fit the new task and nothing in the loss measures the old one, "
            "so it is traded away unseen. Notebook 02, full fine-tuning on `permute`: task B is learnt while task A "
            "(original head) loses about half its accuracy on average, with a large spread from seed to seed "
            "(Evidence 3); Evidence 2 shows the task-A test images that were right before and are wrong after. Much "
            "of the damage is done in the first epoch (Evidence 1)."
        ),
        link=f"{N02}#Evidence-1-—-forgetting-happens,-epoch-by-epoch",
    ),
    Question(
        id="probe-vs-head",
        topic="forgetting",
        zh="微调后原分类头的准确率大幅下降，但线性探针的准确率仍然很高，这说明了什么？",
        en=("After fine-tuning, the original head's accuracy collapses but a linear probe stays high. What does "
            "that tell you?"),
        answer=(
            "The information is largely still in the features; they have rotated and rescaled away from what the "
            "fixed old head reads. Notebook 02, Evidence 1: after full fine-tuning the old head loses a large share "
            "of task A, while a linear probe re-fitted on the same features still reads it well (the check cells "
            "hold both). Re-fitting a head on old data recovers much of it — if you still have that data — and it is "
            "why methods that keep the head's outputs aligned (LP-FT, distillation) work."
        ),
        link=f"{N02}#Evidence-1-—-forgetting-happens,-epoch-by-epoch",
    ),
    # ---------------------------------------------------------------- question 2 follow-ups
    Question(
        id="article-fixes",
        topic="q2",
        zh="文章建议用数据增强和 Dropout、L1/L2 正则化来解决能力退化，这个答案对吗？",
        en=("The article suggests data augmentation and dropout / L1 / L2 regularisation against capability "
            "degradation. Is that right?"),
        answer=(
            "No: those fight **overfitting** on the new data; they do not know where the pretrained weights were, so "
            "they do not stop forgetting. In notebook 02's full run (Evidence 3) dropout, weight decay, augmentation "
            "and early stopping each still lose a large share of task A — dropout even more than plain fine-tuning, "
            "weight decay about as much. Regularise toward θ₀ (L2-SP, EWC) or keep the old task in the loss instead."
        ),
        link=f"{N02}#Evidence-3-—-every-method-on-permute",
    ),
    Question(
        id="frozen-backbone",
        topic="q2",
        zh="冻结骨干网络、只训练新的分类头，是解决遗忘的好办法吗？",
        en="Is freezing the backbone and training only a new head a good answer to forgetting?",
        answer=(
            "It keeps the old task exactly (notebook 02 checks it) but the new task can only use the old features: "
            "on `permute` it trails full fine-tuning on task B by a wide margin (Evidence 3). It is the right choice "
            "when the new data looks like the pretraining data (notebook 01: a linear head on the frozen features "
            "reads the original domain well) and a baseline always worth running; in notebook 04 the frozen MiniLM "
            "keeps all its general ability but learns the intents less well."
        ),
        link=f"{N02}#Evidence-1-—-forgetting-happens,-epoch-by-epoch",
    ),
    Question(
        id="choose-method",
        topic="q2",
        zh="有这么多防遗忘的方法，实际项目中你如何选择？",
        en="With so many anti-forgetting methods, how do you choose one for a real project?",
        answer=(
            "Measure every candidate on both tasks (over seeds) and plot new-task accuracy against old-task "
            "retention; choose from the Pareto frontier under your constraints, making every choice "
            "(hyperparameters, method, stopping epoch, WiSE-FT α, schedule) on a validation split carved from the "
            "training data and only reporting test. Notebook 02 does exactly that: with old data, **rehearsal at "
            "50%** of each combined batch on a longer, faster schedule keeps task A within 1 point of the pretrained "
            "model and task B within 1 point of full fine-tuning; without it, the validation choice is **LP-FT + "
            "LwF**; if the new data resembles the old, a frozen backbone may be enough. Memory limits and many "
            "fine-tunes of one base model favour LoRA — with the adapter kept separate."
        ),
        link=f"{N02}#Evidence-3-—-every-method-on-permute",
    ),
    Question(
        id="no-old-data",
        topic="q2",
        zh="如果因为隐私或许可证限制拿不到旧任务的数据，你会怎么防止遗忘？",
        en="You cannot keep the old task's data (privacy, licences). How do you prevent forgetting?",
        answer=(
            "Use data-free methods: LP-FT + LwF is the one notebook 02 chooses on the validation split; LP-FT + "
            "WiSE-FT α=0.5 keeps task A about as well but pays more on task B, and L2-SP needs nothing but θ₀. EWC "
            "is **not** data-free: its Fisher is computed on task-A data once. LwF is weak when the new inputs look "
            "unlike the old ones (Evidence 4), so keep some unlabelled old-domain inputs for distillation if you "
            "can."
        ),
        link=f"{N02}#Beating-the-frontier",
    ),
    # ---------------------------------------------------------------- methods
    Question(
        id="rehearsal",
        topic="methods",
        zh="什么是 rehearsal（经验回放）？它为什么有效，代价是什么？",
        en="What is rehearsal (experience replay)? Why does it work, and what does it cost?",
        answer=(
            "Mix stored old-task examples into every batch, scored with the frozen old head: the loss keeps "
            "measuring task A, so the optimizer cannot trade it away unseen. Notebook 02: at 10% of each combined "
            "batch it keeps most of task A at a small cost on task B; at 50% (32 stored task-A examples added to "
            "each batch of 32 task-B examples), with a longer or faster schedule chosen on the validation split, "
            "it keeps task A within 1 point of the pretrained model and "
            "reaches task B within 1 point of full fine-tuning. Cost: the old data must be kept (privacy, licences, "
            "storage), and at 50% every step processes twice the examples, for more epochs. \"Just train on both "
            "datasets\" *is* rehearsal — say so."
        ),
        link=f"{N02}#Beating-the-frontier",
    ),
    Question(
        id="ewc-vs-l2sp",
        topic="methods",
        zh="EWC 和 L2-SP 有什么区别？各自需要什么数据？",
        en="What is the difference between EWC and L2-SP, and what data does each need?",
        answer=(
            "Both add a quadratic pull toward the pretrained weights θ₀: L2-SP λ/2·‖θ−θ₀‖² treats all weights alike; "
            "EWC λ/2·Σ F·(θ−θ₀)² weights each by the diagonal Fisher on task A, so weights the old task does not use "
            "move freely. EWC needs task-A data once (for the Fisher), L2-SP none. Notebook 02's Evidence 3 runs "
            "both at two strengths on the same protocol; compare them at matched task-B accuracy, not at matched λ — "
            "EWC's λ lives on the scale of its normalised Fisher (mean 1)."
        ),
        link=f"{N02}#The-fixes,-and-why-each-works",
    ),
    Question(
        id="lp-ft",
        topic="methods",
        zh="什么是 LP-FT（先线性探测再微调）？为什么它能减少遗忘？",
        en="What is LP-FT (linear probing, then fine-tuning), and why does it forget less?",
        answer=(
            "First fit the new head on frozen features, then fine-tune everything at a lower rate (here a third). A "
            "random head sends large, arbitrary first gradients into the backbone; a head that already fits task B "
            "sends small ones, so the features move less (Kumar et al., 2022). Notebook 02's Evidence 3 puts LP-FT "
            "beside full fine-tuning, and it is the base of the best data-free combinations: LP-FT + LwF (the "
            "validation choice) and LP-FT + WiSE-FT α=0.5 both keep nearly all of task A. Whether LP-FT's WiSE-FT "
            "dial beats full fine-tuning's at the same α varies from seed to seed."
        ),
        link=f"{N02}#Evidence-3-—-every-method-on-permute",
    ),
    Question(
        id="lwf",
        topic="methods",
        zh="LwF（Learning without Forgetting）的原理是什么？什么情况下会失效？",
        en="How does LwF (Learning without Forgetting) work, and when does it fail?",
        answer=(
            "It distils the old head's outputs on the **new** inputs (KL at temperature T) — no old data needed. "
            "That works when the new inputs resemble the old: on `split` (digits 5–9 after 0–4) it keeps nearly all "
            "of task A, as well as rehearsal. Under domain shift (`rot90`) the old head's outputs on rotated digits "
            "say little about task A: LwF keeps far more than full fine-tuning but clearly trails rehearsal. "
            "Notebook 02's Evidence 4 measures both tasks."
        ),
        link=f"{N02}#Evidence-4-—-LwF-fails-under-domain-shift-(rot90)-and-works-on-similar-inputs-(split)",
    ),
    Question(
        id="wise-ft",
        topic="methods",
        zh="什么是 WiSE-FT？为什么把微调后的权重和预训练权重做插值会有效？",
        en="What is WiSE-FT, and why does interpolating fine-tuned and pretrained weights work?",
        answer=(
            "After fine-tuning set θ = (1−α)·θ₀ + α·θ_ft — no extra training. Fine-tuning from a shared pretrained "
            "point usually stays in one low-loss basin, so the straight line between the two consists of good models "
            "(linear mode connectivity). It is a dial: notebook 02's Evidence 3 evaluates α=0.25, α=0.5, α=0.75 and "
            "α=1 of a full and of an LP-FT run: from full fine-tuning, α=0.25 keeps far more of task A and α=1 "
            "learns far more of task B. Choose α on the validation split. From LP-FT, α=0.5 keeps nearly all of task "
            "A but pays more on task B than LP-FT + LwF."
        ),
        link=f"{N02}#Evidence-3-—-every-method-on-permute",
    ),
    # ---------------------------------------------------------------- PEFT / LoRA
    Question(
        id="lora-forgetting",
        topic="peft",
        zh="LoRA 只训练很少的参数，它能防止灾难性遗忘吗？",
        en="LoRA trains very few parameters. Does it prevent catastrophic forgetting?",
        answer=(
            "Not by itself: it limits *how* the weights move (low rank), not *how far the function* moves. Notebook "
            "02's full run (Evidence 3): LoRA at rank 16 keeps more of task A than full fine-tuning but learns less "
            "of task B, keeps less of task A than EWC, and its spread over seeds is large — the direction \"LoRA "
            "Learns Less and Forgets Less\" (Biderman et al., 2024) reports. Notebook 04: LoRA's similarity geometry "
            "moves about as much as full fine-tuning's. Its wins are memory and storage; what protects is keeping "
            "the adapter separate so it can be switched off for the old task."
        ),
        link=f"{N04}#4-·-What-the-numbers-say",
    ),
    Question(
        id="lora-mechanics",
        topic="peft",
        zh="LoRA 的原理是什么？初始化、秩和学习率应该怎么设置？",
        en="How does LoRA work, and how do you set its initialisation, rank and learning rate?",
        answer=(
            "Each adapted kernel becomes W = W₀ + s·A·B with A [m, r] and B [r, n]; only A, B (and the head) "
            "train, r·(m + n) parameters per kernel. B starts at zero, so training starts exactly at the "
            "pretrained function — which is also why it usually needs a larger learning rate (notebook 04: 3e-3 "
            "for LoRA vs 3e-4 for full fine-tuning). The rank sets capacity: r=4 on the bundled model's two dense "
            "kernels is 6,026 trainable parameters with the head, against 158,922 for full fine-tuning."
        ),
        link=f"{N04}#3-·-Fine-tune,-six-ways",
    ),
    Question(
        id="when-peft",
        topic="peft",
        zh="什么时候应该选择参数高效微调（LoRA、adapter），而不是全量微调？",
        en="When do you prefer parameter-efficient fine-tuning (LoRA, adapters) over full fine-tuning?",
        answer=(
            "When the training state does not fit (7B: 107.2 GB for full fine-tuning vs 13.5 GB with LoRA, by "
            "formula), when you serve many fine-tunes of one base model (store megabytes, not gigabytes), or when "
            "the base model must stay untouched. Expect lower accuracy on a very different task: on `permute`, LoRA "
            "at rank 16 learns less of task B than full fine-tuning (notebook 02's full run)."
        ),
        link=f"{N01}#Follow-up-questions-interviewers-ask",
    ),
    # ---------------------------------------------------------------- evaluation
    Question(
        id="measure-forgetting",
        topic="evaluation",
        zh="如何量化“遗忘”？你会报告哪些指标？",
        en="How do you quantify forgetting? Which metrics do you report?",
        answer=(
            "Old-task accuracy with the **original head on the updated backbone** (what a user of the old capability "
            "sees), before and after: forgetting = before − after, retention = after / before. Add a **linear "
            "probe** re-fitted on the features (is the information gone or only misaligned?) and the new-task "
            "accuracy, over several seeds; choose on a validation split, report test. Notebook 02's protocol reports "
            "all of them: full fine-tuning loses a large share of task A on the head, while the probe still reads it "
            "well."
        ),
        link=f"{N02}#The-question",
    ),
    Question(
        id="validate-both-tasks",
        topic="evaluation",
        zh="训练过程中应该验证什么？只看新任务的验证集够吗？",
        en="What do you validate during training? Is the new task's validation set enough?",
        answer=(
            "No — validating only task B hides forgetting. Validate both tasks on a validation split after every "
            "epoch (and once before training): task B with the new head, task A with the old head on the updated "
            "backbone, and keep the per-epoch history: it shows *when* it forgot. Read the test split once, at the "
            "end, and only report it. Notebook 03's loop does this with L2-SP, and its check cells require the run "
            "to learn task B and keep most of task A."
        ),
        link=f"{N03}#Step-4-·-Train-and-validate-(your-turn)",
    ),
    Question(
        id="forgetting-without-labels",
        topic="evaluation",
        zh="在生产环境中没有旧任务的标签，如何发现模型在微调后发生了遗忘？",
        en=("In production you have no labels for the old ability. How do you notice that fine-tuning made the "
            "model forget?"),
        answer=(
            "Compare the new model with the old one on a fixed set of unlabelled old-domain inputs: agreement of "
            "their predictions, or the Spearman correlation of pairwise embedding similarities (notebook 04: 1 = "
            "geometry unchanged; full fine-tuning on the intents bends it well away from that). Add retrieval on a "
            "small set of known pairs, a held-back handful of labelled old examples, and the drift ‖θ − θ₀‖ per "
            "layer — at every checkpoint."
        ),
        link=f"{N04}#Follow-up-questions-interviewers-ask",
    ),
    # ---------------------------------------------------------------- question 3 follow-ups
    Question(
        id="l2sp-code",
        topic="q3",
        zh="用 TensorFlow 实现 L2-SP 正则项，并解释为什么锚点是预训练权重而不是零。",
        en="Implement the L2-SP penalty in TensorFlow, and explain why the anchor is the pretrained weights, not zero.",
        answer=(
            "`0.5 * lam * tf.add_n([tf.reduce_sum(tf.square(v - a)) for v, a in zip(variables, anchors)])`, with "
            "`anchors` constant copies of the backbone's weights taken before training; TF ops so gradients flow, "
            "and zero at the anchors. Plain weight decay pulls toward zero, which is not where the old knowledge is: "
            "in notebook 02's full run weight decay keeps no more of task A than plain fine-tuning (Evidence 3)."
        ),
        link=f"{N03}#Step-3-·-The-regulariser-(your-turn)",
    ),
    Question(
        id="preprocess-signature",
        topic="q3",
        zh="数据预处理要注意什么？如何确认输入与模型的签名一致？",
        en="What matters in preprocessing, and how do you make sure the input matches the model's signature?",
        answer=(
            "Match the signature exactly — shape, dtype and range: digit counts 0..16 → float32 `[N, 8, 8, 1]` in "
            "[0, 1], with the same pixel permutation for every task-B image. Check before training: "
            "`utils.hub.check_input` fails with both shapes, e.g. `(None, 8, 8, 1)` expected vs `(2, 28, 28, 1)` "
            "given. A TF-Hub image feature vector like mobilenet_v2 wants 224×224×3 float32 in [0, 1]."
        ),
        link=f"{N03}#Step-2-·-Preprocess-(your-turn)",
    ),
    Question(
        id="script-artifacts",
        topic="q3",
        zh="微调脚本应该记录和保存哪些内容？训练被中断后如何恢复？",
        en="What should a fine-tuning script log and save, and how does it recover from an interruption?",
        answer=(
            "The full config and library versions, per-epoch loss and both tasks' accuracies, seconds, a checkpoint "
            "every epoch and the exported model: `results.json`, `history.csv`, `checkpoints/`, `model/`. `--resume` "
            "continues from the last complete epoch to the same weights as an uninterrupted run. Notebook 03 "
            "re-loads the exported SavedModel and checks that it reproduces the reported task-B accuracy exactly."
        ),
        link=f"{N03}#The-same-run-with-the-workbook's-script",
    ),
    Question(
        id="nan-loss",
        topic="q3",
        zh="训练过程中 loss 变成了 NaN，你会怎么处理？",
        en="The loss became NaN during fine-tuning. What do you do?",
        answer=(
            "Stop at once rather than train on garbage, keep the last good checkpoint, then lower the learning "
            "rate or λ and check the inputs (scale, NaNs). Notebook 03's loop raises `FloatingPointError` naming "
            "the epoch, and `python -m utils.finetune_cli` exits with one line and keeps the last good checkpoint."
        ),
        link=f"{N03}#Step-4-·-Train-and-validate-(your-turn)",
    ),
    Question(
        id="multi-gpu",
        topic="q3",
        zh="如果需要把这个微调脚本扩展到多 GPU 或多台机器上，你会怎么做？",
        en="How would you scale the fine-tuning script to several GPUs or several machines?",
        answer=(
            "Data-parallel with `tf.distribute.MirroredStrategy` on one machine (`--strategy mirrored`), "
            "`MultiWorkerMirroredStrategy` with `TF_CONFIG` on every worker for several machines; the step code "
            "stays the same. Methods that draw random numbers or create variables inside the step (EWC, LoRA, "
            "dropout, augmentation) need care under replication — the workbook's script refuses them with a "
            "clear error."
        ),
        link=f"{N03}#Follow-up-questions-interviewers-ask",
    ),
    # ---------------------------------------------------------------- text models
    Question(
        id="text-fixes",
        topic="text",
        zh="开源权重模型在微调过程中出现能力退化时，有哪些方法可以解决？（以文本分类模型为例）",
        en=("An open-weight text encoder loses some of its general ability when fine-tuned for classification. "
            "How do you fix that?"),
        answer=(
            "Measure the general ability first, then compare fixes. Notebook 04 (all-MiniLM-L6-v2, 8 support "
            "intents): **WiSE-FT α=0.5** is the best trade — intent accuracy within a few points of full "
            "fine-tuning, paraphrase retrieval kept within a few points, far more of the similarity geometry kept; "
            "the **frozen** encoder keeps everything but learns the intents less well; **L2-SP** keeps the geometry "
            "much closer but learns slowly. **LoRA** and **token dropout** do not protect the geometry."
        ),
        link=f"{N04}#4-·-What-the-numbers-say",
    ),
    Question(
        id="text-general-ability",
        topic="text",
        zh="如何衡量一个句向量模型（sentence encoder）的“通用能力”在微调后是否退化？",
        en="How do you measure whether a sentence encoder's general ability degraded after fine-tuning?",
        answer=(
            "Keep general tasks unrelated to the new one beside it: **paraphrase retrieval** (is a sentence's "
            "paraphrase its nearest neighbour?), a **topic probe** (a linear classifier re-fitted on the embeddings) "
            "and the **Spearman** agreement of all pairwise similarities with the original model (1 = geometry "
            "unchanged). In notebook 04 a few dozen steps on support messages cost paraphrase retrieval and bent the "
            "similarity geometry well away from the original's, while the frozen encoder kept both."
        ),
        link=f"{N04}#2-·-The-data:-a-new-task,-and-the-general-ability-to-keep",
    ),
    Question(
        id="text-article-example",
        topic="text",
        zh="文章的文本示例用 `hub.load` 加载 `google/fasttextenglishdim50/1` 再调用 `.predict`，应该怎么改？",
        en=("The article's text example loads `google/fasttextenglishdim50/1` with `hub.load` and calls "
            "`.predict`. How do you correct it?"),
        answer=(
            "That handle is not a model we could find (a real one of that kind: `google/nnlm-en-dim50/2`), and "
            "`hub.load` returns an object without `.predict`. A TF-Hub text model is a preprocessor plus an encoder, "
            "both called directly: `ids = preprocessor(tf.constant(sentences))` → (3, 32) int32, `encoder(ids)` → "
            "(3, 384) unit-length embeddings. With all-MiniLM-L6-v2 a paraphrase is far closer in cosine similarity "
            "than an unrelated sentence (notebook 04 prints the similarity matrix and checks the margin)."
        ),
        link=f"{N04}#1-·-The-article's-example,-corrected",
    ),
    Question(
        id="tokenizer-coverage",
        topic="text",
        zh="把 all-MiniLM-L6-v2 直接用在中文文本上微调，会有什么问题？",
        en="What goes wrong if you fine-tune all-MiniLM-L6-v2 directly on Chinese text?",
        answer=(
            "Its 30,522-token English word-piece vocabulary splits CJK characters and maps most of them to `[UNK]`: "
            "notebook 04 prints the word pieces of \"微调会导致遗忘吗？\", mostly `[UNK]`. Fine-tuning cannot recover "
            "information the tokenizer already threw away — it is data mismatch at the tokenizer. Inspect the token "
            "ids of your own data first and choose a multilingual or Chinese model."
        ),
        link=f"{N04}#1-·-The-article's-example,-corrected",
    ),
]

TOPICS: tuple[str, ...] = tuple(dict.fromkeys(q.topic for q in QUESTIONS))


def topics() -> dict[str, int]:
    """Number of questions per topic, in the bank's order."""
    return dict(Counter(q.topic for q in QUESTIONS))


def get(question_id: str) -> Question:
    """The question with this ``id``."""
    for q in QUESTIONS:
        if q.id == question_id:
            return q
    raise KeyError(f"no question {question_id!r}; ids: {', '.join(q.id for q in QUESTIONS)}")


def anchor(heading_text: str) -> str:
    """The link anchor of a Markdown heading, as JupyterLab and nbconvert make it from the rendered text:
    leading '#'s and whitespace stripped, backticks (code formatting) dropped, spaces replaced by '-'.

    >>> anchor("## 1 · Data mismatch")
    '1-·-Data-mismatch'
    >>> anchor("## Evidence 3 — every method on `permute`")
    'Evidence-3-—-every-method-on-permute'
    """
    return heading_text.strip().lstrip("#").strip().replace("`", "").replace(" ", "-")


def _markdown_cells(notebook_path):
    import json

    nb = json.loads(Path(notebook_path).read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            source = cell.get("source", "")
            yield "".join(source) if isinstance(source, list) else source


def headings(notebook_path) -> set[str]:
    """Anchors of every Markdown heading (a line starting with '#', outside fenced code) in a notebook."""
    found = set()
    for text in _markdown_cells(notebook_path):
        fence = None
        for line in text.splitlines():
            stripped = line.lstrip()
            if stripped.startswith(("```", "~~~")):
                marker = stripped[:3]
                fence = None if fence == marker else (fence or marker)
                continue
            if fence is None and line.startswith("#"):
                found.add(anchor(line))
    return found


def broken_links(questions=QUESTIONS, notebooks_dir=None) -> list[str]:
    """One message per link whose notebook does not exist or whose anchor is not one of its headings.

    ``notebooks_dir`` defaults to ``utils.paths.NOTEBOOKS_DIR``.
    """
    folder = Path(paths.NOTEBOOKS_DIR if notebooks_dir is None else notebooks_dir)
    cache: dict[str, set[str]] = {}
    problems = []
    for q in questions:
        name, sep, frag = q.link.partition("#")
        if not sep or not name or not frag:
            problems.append(f"{q.id}: link {q.link!r} is not of the form 'NN_name.ipynb#Anchor'")
            continue
        path = folder / name
        if not path.is_file():
            problems.append(f"{q.id}: notebook {name} does not exist in {folder}")
            continue
        if name not in cache:
            cache[name] = headings(path)
        if frag not in cache[name]:
            problems.append(f"{q.id}: {name} has no heading with anchor {frag!r}")
    return problems


def draw(k: int = 1, seed=None, topic: str | None = None) -> list[Question]:
    """``k`` different questions at random (``random.Random(seed)``), from one ``topic`` if given."""
    pool = [q for q in QUESTIONS if topic is None or q.topic == topic]
    if not pool:
        raise ValueError(f"unknown topic {topic!r}; topics: {', '.join(TOPICS)}")
    if not 0 <= k <= len(pool):
        where = "the bank" if topic is None else f"topic {topic!r}"
        raise ValueError(f"cannot draw {k} questions without replacement: {where} has {len(pool)}")
    return random.Random(seed).sample(pool, k)


def as_markdown(q: Question, reveal: bool = False) -> str:
    """The question (Chinese and English), its evidence link and the model answer, collapsed unless ``reveal``."""
    name, _, frag = q.link.partition("#")
    label = f"{name.removesuffix('.ipynb')} › {frag.replace('`', '')}"  # no backticks: they would open code spans
    head = (f"**{q.zh}**\n\n*{q.en}*\n\n"
            f"Evidence: [{label}]({q.link})" + (f" · topic `{q.topic}`" if q.topic else "") + "\n\n")
    if reveal:
        return head + f"**Model answer.** {q.answer}\n"
    return head + f"<details><summary>Model answer</summary>\n\n{q.answer}\n\n</details>\n"
