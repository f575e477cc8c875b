//! What follows a convolution whose batch norm is folded into it: the per-channel bias, then
//! ReLU6 where the unit has one, in one pass over a channel plane.

/// The bias of every output channel, and whether ReLU6 follows it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Epilogue<'a> {
    pub bias: &'a [f32],
    pub activate: bool,
}

impl Epilogue<'_> {
    /// Applies the epilogue of output channel `channel` to one of its planes, in place.
    pub fn apply(&self, channel: usize, plane: &mut [f32]) {
        let bias = self.bias[channel];
        if self.activate {
            for value in plane {
                *value = (*value + bias).clamp(0.0, 6.0);
            }
        } else {
            for value in plane {
                *value += bias;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bias_is_added_and_relu6_clamps_to_zero_and_six_keeping_nan() {
        let bias = [1.0, -2.0];
        let mut plane = [-3.0, 0.5, 5.5, f32::NAN];
        Epilogue {
            bias: &bias,
            activate: true,
        }
        .apply(0, &mut plane);
        assert_eq!(&plane[..3], &[0.0, 1.5, 6.0]);
        assert!(plane[3].is_nan());
        let mut plane = [-3.0, 0.5, 9.0];
        Epilogue {
            bias: &bias,
            activate: false,
        }
        .apply(1, &mut plane);
        assert_eq!(plane, [-5.0, -1.5, 7.0]);
    }
}
