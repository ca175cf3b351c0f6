//! Every model type of docs/reference.md §3.1 (plus the random control) builds and trains a step on
//! the CPU, and the variant switches do what the config says.

use burn::backend::{Autodiff, Flex};
use burn::tensor::{Distribution, Int, Tensor};
use scgenept_model::model_type::{model_types, preset};
use scgenept_model::state_dict::{grads_state_dict, model_state_dict};
use scgenept_model::{KnowledgeSource, ModelConfig, ScGenePT, SumNorm};

type B = Autodiff<Flex>;

fn src(name: &str) -> KnowledgeSource {
    name.parse().expect("a source name")
}

fn shrink(mut c: ModelConfig) -> ModelConfig {
    c.vocab_size = 60;
    c.pad_token_id = 57;
    c.d_model = 16;
    c.nhead = 2;
    c.d_hid = 16;
    c.nlayers = 1;
    c.dropout = 0.2;
    c
}

fn step(cfg: &ModelConfig) -> (ScGenePT<B>, scgenept_model::StateDict) {
    let device = Default::default();
    let model = ScGenePT::<B>::new(cfg, &device).unwrap();
    let ids = Tensor::<B, 2>::random([2, 7], Distribution::Uniform(0.0, 59.0), &device).int();
    let values = Tensor::<B, 2>::random([2, 7], Distribution::Uniform(0.0, 3.0), &device);
    let flags = Tensor::<B, 2, Int>::ones([2, 7], &device);
    let out = model.forward(ids, values, flags);
    assert_eq!(out.dims(), [2, 7]);
    let loss = out.powf_scalar(2.0).mean();
    let v: f32 = loss.clone().into_scalar();
    assert!(v.is_finite());
    let grads = loss.backward();
    let g = grads_state_dict(&model, &grads);
    (model, g)
}

#[test]
fn every_model_type_runs_forward_and_backward() {
    let mut types = model_types();
    types.push("scgenept_go_p_gpt_avg_no_attention".into());
    for t in types {
        let cfg = shrink(preset(&t, 12).unwrap().config);
        let (model, grads) = step(&cfg);
        let params = model_state_dict(&model);
        // Every parameter that takes part in the forward gets a gradient.
        for k in params.keys() {
            assert!(grads.contains_key(k), "{t}: no gradient for {k}");
        }
        let has = |p: &str| params.keys().any(|k| k.starts_with(p));
        assert_eq!(has("encoder."), cfg.inputs.tokens, "{t}");
        assert_eq!(has("value_encoder."), cfg.inputs.counts, "{t}");
        assert_eq!(has("pert_encoder."), cfg.inputs.pert_flags, "{t}");
        for s in &cfg.knowledge_sources {
            let proj = format!("{}.{}.weight", s.state_prefix, s.proj_key);
            assert_eq!(params[&proj].shape, vec![16, 12], "{t}: {proj}");
        }
        assert!(has("ln."), "{t}");
    }
}

#[test]
fn scgpt_2024_has_no_sum_norm_and_pad_flag_zero() {
    let mut cfg = shrink(preset("scgpt", 8).unwrap().config);
    cfg.sum_norm = SumNorm::None;
    cfg.pert_pad_id = 0;
    let (model, grads) = step(&cfg);
    let params = model_state_dict(&model);
    assert!(!params.keys().any(|k| k.starts_with("ln.")));
    // T-2024: the "not perturbed" flag embedding is a fixed zero vector.
    let w = &params["pert_encoder.weight"];
    assert!(w.data[..16].iter().all(|x| *x == 0.0));
    assert!(grads["pert_encoder.weight"].data[..16]
        .iter()
        .all(|x| *x == 0.0));
}

#[test]
fn knowledge_rows_are_written_and_checked() {
    let cfg = shrink(
        preset("scgenept_ncbi+uniprot_gpt_go_c_gpt_concat", 4)
            .unwrap()
            .config,
    );
    let device = Default::default();
    let mut model = ScGenePT::<B>::new(&cfg, &device).unwrap();
    let before = model_state_dict(&model);
    let table = &before["genept_encoder.embedding.weight"];
    assert!(
        table.data.iter().all(|x| x.abs() <= 0.1),
        "U(-0.1, 0.1) init"
    );
    let v = [1.0f32, 2.0, 3.0, 4.0];
    let n = model
        .set_knowledge_rows(src("ncbi_uniprot"), [(5usize, &v[..]), (9, &v[..])])
        .unwrap();
    assert_eq!(n, 2);
    let after = model_state_dict(&model);
    let t = &after["genept_encoder.embedding.weight"];
    assert_eq!(&t.data[20..24], &v);
    assert_eq!(&t.data[36..40], &v);
    assert_eq!(&t.data[..20], &table.data[..20], "other rows untouched");
    assert_eq!(
        after["gopt_encoder_c.embedding.weight"],
        before["gopt_encoder_c.embedding.weight"]
    );

    let e = model
        .set_knowledge_rows(src("ncbi_uniprot"), [(1usize, &v[..3])])
        .unwrap_err()
        .to_string();
    assert!(e.contains("width 3") && e.contains("d_llm = 4"), "{e}");
    let e = model
        .set_knowledge_rows(src("ncbi_uniprot"), [(60usize, &v[..])])
        .unwrap_err()
        .to_string();
    assert!(e.contains("out of range"), "{e}");
    let nan = [f32::NAN, 0.0, 0.0, 0.0];
    let e = model
        .set_knowledge_rows(src("go_c_concat"), [(1usize, &nan[..])])
        .unwrap_err()
        .to_string();
    assert!(e.contains("NaN"), "{e}");
    let e = model
        .set_knowledge_rows(src("go_p_concat"), [(1usize, &v[..])])
        .unwrap_err()
        .to_string();
    assert!(e.contains("no knowledge source 'go_p_concat'"), "{e}");
}
