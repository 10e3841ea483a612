// ml-regression ships no type declarations; its multivariate regression is the class of
// ml-regression-multivariate-linear (a dependency of ml-regression), whose types do ship.
declare module 'ml-regression' {
  export { default as MultivariateLinearRegression } from 'ml-regression-multivariate-linear';
}
