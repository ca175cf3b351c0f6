//! Prediction from control cells (`Prediction::cells`): batch size, host threads and predicting
//! a control drawn twice only once change speed, never results. The reference is the plain
//! path: every draw through `ScGenePT::forward` on its own, draws as documented (one `StdRng`
//! stream over the perturbations, `pool.size` draws each).

use burn::backend::Flex;
use burn::tensor::{Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use scgenept_data::csr::CsrMatrix;
use scgenept_model::{model_type, ScGenePT};
use scgenept_train::infer::bundle::BundleMeta;
use scgenept_train::infer::predict::{Pool, Prediction};

type B = Flex;

fn setup() -> (ScGenePT<B>, BundleMeta, CsrMatrix) {
    let mut cfg = model_type::preset("scgenept_go_c_gpt_concat", 8)
        .unwrap()
        .config;
    (cfg.vocab_size, cfg.pad_token_id) = (30, 29);
    (cfg.d_model, cfg.nhead, cfg.d_hid, cfg.nlayers) = (16, 2, 16, 2);
    let device = Default::default();
    let model = ScGenePT::<B>::new(&cfg, &device).unwrap();
    let genes: Vec<String> = (0..12).map(|i| format!("G{i}")).collect();
    let meta = BundleMeta {
        gene_ids: genes.clone(),
        vocab_ids: (0..12).map(|i| 2 * i + 1).collect(),
        genes,
        knowledge_genes: Default::default(),
        source_run: String::new(),
        provenance: None,
    };
    let mut rng = StdRng::seed_from_u64(3);
    let values: Vec<f32> = (0..5 * 12).map(|_| rng.random_range(0.0..3.0)).collect();
    (model, meta, CsrMatrix::from_dense(5, 12, &values))
}

/// Every draw predicted on its own, in draw order.
fn plain(
    model: &ScGenePT<B>,
    meta: &BundleMeta,
    controls: &CsrMatrix,
    perts: &[(&str, &[usize])],
    pool: Pool,
) -> Vec<Vec<f32>> {
    let device = Default::default();
    let mut rng = StdRng::seed_from_u64(pool.seed);
    let ids: Vec<i64> = meta.vocab_ids.iter().map(|i| *i as i64).collect();
    let mut row = vec![0f32; 12];
    perts
        .iter()
        .map(|(_, flagged)| {
            let mut cells = Vec::new();
            for _ in 0..pool.size {
                controls.row_into(rng.random_range(0..controls.n_rows), &mut row);
                let mut flags = vec![0i64; 12];
                flagged.iter().for_each(|j| flags[*j] = 1);
                let t = |v: Vec<i64>| {
                    Tensor::<B, 2, Int>::from_data(TensorData::new(v, [1, 12]), &device)
                };
                let values =
                    Tensor::<B, 2>::from_data(TensorData::new(row.clone(), [1, 12]), &device);
                let out = model.forward(t(ids.clone()), values, t(flags));
                cells.extend(out.into_data().into_vec::<f32>().unwrap());
            }
            cells
        })
        .collect()
}

#[test]
fn batches_threads_and_repeated_draws_change_speed_not_results() {
    let (model, meta, controls) = setup();
    let names = [
        "G1+ctrl".to_string(),
        "G2+G7".to_string(),
        "G0+G11".to_string(),
    ];
    let flagged: [&[usize]; 3] = [&[1], &[2, 7], &[0, 11]];
    let pool = Pool {
        size: 9,
        seed: 5,
        per_perturbation: false,
    };
    let want = plain(
        &model,
        &meta,
        &controls,
        &[
            (&names[0], flagged[0]),
            (&names[1], flagged[1]),
            (&names[2], flagged[2]),
        ],
        pool,
    );
    let device = Default::default();
    for batch in [1, 4, 27, 64] {
        let p = Prediction {
            model: &model,
            meta: &meta,
            controls: &controls,
            perts: &names,
            pool,
            batch,
            device: &device,
        };
        let mut got = Vec::new();
        // 5 controls, 9 draws each: some controls repeat, so fewer cells run than are drawn.
        let forwards = p.cells(|i, cells| got.push((i, cells.to_vec()))).unwrap();
        assert!(forwards < 27, "{forwards}");
        assert_eq!(got.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0, 1, 2]);
        for ((_, cells), want) in got.iter().zip(&want) {
            let worst = cells
                .iter()
                .zip(want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-5, "batch {batch}: {worst}");
        }
    }
    // Per-perturbation streams: a perturbation draws the same controls in any list.
    let pool = Pool {
        per_perturbation: true,
        ..pool
    };
    let mean_of = |perts: &[String]| {
        Prediction {
            model: &model,
            meta: &meta,
            controls: &controls,
            perts,
            pool,
            batch: 4,
            device: &device,
        }
        .means()
        .unwrap()
    };
    let both = mean_of(&names[..2]);
    assert_eq!(mean_of(&names[1..2])[0], both[1]);
}
